//! Mail sent over real SMTP (lettre, as the notifications service sends it)
//! arrives in the inbox: on its page and through the MailHog-style API.

use lettre::{
    AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor, message::header::ContentType,
};
use shop_inbox::{Inbox, router, serve_smtp};
use tokio_util::sync::CancellationToken;

async fn start() -> (String, u16, CancellationToken) {
    let inbox = Inbox::new();
    let shutdown = CancellationToken::new();
    let smtp = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let smtp_port = smtp.local_addr().unwrap().port();
    tokio::spawn(serve_smtp(smtp, inbox.clone(), shutdown.clone()));
    let http = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", http.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(http, router(inbox)).await });
    (url, smtp_port, shutdown)
}

async fn send(port: u16, to: &str, subject: &str, html: &str) {
    let mailer = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous("127.0.0.1")
        .port(port)
        .build();
    let message = Message::builder()
        .from("Shop <orders@shop.local>".parse().unwrap())
        .to(to.parse().unwrap())
        .subject(subject)
        .header(ContentType::TEXT_HTML)
        .body(html.to_owned())
        .unwrap();
    mailer
        .send(message)
        .await
        .expect("the inbox accepts the mail");
}

async fn get_json(http: &reqwest::Client, url: String) -> serde_json::Value {
    http.get(url).send().await.unwrap().json().await.unwrap()
}

#[tokio::test]
async fn mail_sent_over_smtp_is_listed_shown_and_deleted() {
    let (url, port, shutdown) = start().await;
    let http = reqwest::Client::new();
    send(
        port,
        "ann@example.com",
        "Order #7 confirmed",
        "<h1>Thank you</h1><p>Order <b>#7</b></p>",
    )
    .await;
    send(
        port,
        "bob@example.com",
        "Order #8 shipped",
        "<p>On its way</p>",
    )
    .await;

    let list = get_json(&http, format!("{url}/api/v2/messages")).await;
    assert_eq!(list["total"], 2);
    let newest = &list["items"][0];
    assert_eq!(
        newest["Content"]["Headers"]["Subject"][0],
        "Order #8 shipped"
    );
    assert_eq!(newest["To"][0]["Mailbox"], "bob");
    assert_eq!(newest["To"][0]["Domain"], "example.com");
    assert_eq!(newest["Raw"]["From"], "orders@shop.local");

    let found = get_json(
        &http,
        format!("{url}/api/v2/search?kind=to&query=ANN@example"),
    )
    .await;
    assert_eq!(found["total"], 1);
    let id = found["items"][0]["ID"].as_str().unwrap().to_owned();
    let one = get_json(&http, format!("{url}/api/v1/messages/{id}")).await;
    assert_eq!(
        one["Content"]["Headers"]["Subject"][0],
        "Order #7 confirmed"
    );

    let page = http.get(&url).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("Order #7 confirmed") && page.contains("Order #8 shipped"));
    let html = http
        .get(format!("{url}/messages/{id}/html"))
        .send()
        .await
        .unwrap();
    assert!(
        html.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .starts_with("sandbox")
    );
    assert!(html.text().await.unwrap().contains("<b>#7</b>"));

    let deleted = http
        .delete(format!("{url}/api/v1/messages"))
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 200);
    let list = get_json(&http, format!("{url}/api/v1/messages")).await;
    assert_eq!(list, serde_json::json!([]));
    shutdown.cancel();
}

#[tokio::test]
async fn what_a_message_says_is_shown_as_text_and_its_html_sandboxed() {
    let (url, port, shutdown) = start().await;
    send(
        port,
        "eve@example.com",
        "<script>alert(1)</script>",
        "<script>alert(2)</script>",
    )
    .await;
    let page = reqwest::get(&url).await.unwrap().text().await.unwrap();
    assert!(!page.contains("<script>alert(1)"), "the subject is escaped");
    assert!(page.contains("&lt;script&gt;alert(1)"), "{page}");
    let refused = reqwest::Client::new()
        .post(format!("{url}/clear"))
        .header("origin", "http://evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 403, "another site cannot clear the inbox");
    shutdown.cancel();
}

#[tokio::test]
async fn a_line_past_the_limit_ends_the_session_and_stores_nothing() {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    let (url, port, shutdown) = start().await;
    let socket = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    let mut stream = BufReader::new(socket);
    let mut line = String::new();
    stream.read_line(&mut line).await.unwrap();
    assert!(line.starts_with("220"), "{line}");
    for command in [
        "HELO client\r\n",
        "MAIL FROM:<a@example.com>\r\n",
        "RCPT TO:<b@example.com>\r\n",
        "DATA\r\n",
    ] {
        stream.write_all(command.as_bytes()).await.unwrap();
        line.clear();
        stream.read_line(&mut line).await.unwrap();
    }
    assert!(line.starts_with("354"), "{line}");
    // 64 KiB of text and then ".": cut at the limit, the "." would have
    // looked like the end of the message.
    let mut long = vec![b'x'; 64 * 1024];
    long.extend_from_slice(b".\r\nQUIT\r\n");
    let _ = stream.write_all(&long).await;
    line.clear();
    stream.read_line(&mut line).await.unwrap();
    assert!(line.starts_with("500"), "{line}");
    let list = get_json(&reqwest::Client::new(), format!("{url}/api/v2/messages")).await;
    assert_eq!(list["total"], 0);
    shutdown.cancel();
}
