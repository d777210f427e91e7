//! Pure rules, no I/O: what a valid product, stock change and catalogue
//! query are ([`product`]), and the reservation ledger's states and limits
//! ([`reservation`]).

pub mod image;
pub mod product;
pub mod reservation;
