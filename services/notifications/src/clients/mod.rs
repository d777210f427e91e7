//! External systems: SMTP, behind [`mailer::Mailer`].

pub mod mailer;
