//! What crawlers and link previews read through the web front: robots.txt,
//! the sitemap of active products, and a 404 for an address the app does
//! not have.

use shop_testkit::{Shop, TestStack};

#[tokio::test]
async fn the_web_front_serves_robots_the_sitemap_and_a_404_for_unknown_pages() {
    // A stand-in for the built app: the page is what matters here.
    let dist = std::env::temp_dir().join(format!("shop-crawlers-dist-{}", std::process::id()));
    std::fs::create_dir_all(&dist).unwrap();
    std::fs::write(
        dist.join("index.html"),
        "<!doctype html><title>Shop</title>",
    )
    .unwrap();
    let t = TestStack::start_with(&[("WEB_DIST_DIR", dist.to_str().unwrap())]).await;
    let web = t.stack.url("web").expect("the web front runs");
    let admin = t.admin_token().await;
    let product = t.create_product(&admin, "MAP-1", "4.50", 3).await;
    let client = t.client();

    let robots = client
        .get(format!("{web}/robots.txt"))
        .send()
        .await
        .unwrap();
    assert_eq!(robots.status(), 200);
    assert!(
        robots.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    let robots = robots.text().await.unwrap();
    assert!(robots.contains("Disallow: /checkout"), "{robots}");

    let sitemap = client
        .get(format!("{web}/sitemap.xml"))
        .send()
        .await
        .unwrap();
    assert_eq!(sitemap.status(), 200);
    assert!(
        sitemap.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/xml")
    );
    let sitemap = sitemap.text().await.unwrap();
    assert!(
        sitemap.contains(&format!("/products/{product}</loc>")),
        "{sitemap}"
    );

    let missing = client
        .get(format!("{web}/no-such-page"))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
    assert!(
        missing.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html"),
        "the app's page, which shows its own not-found"
    );
    let page = client
        .get(format!("{web}/products/{product}"))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    t.finish().await;
    let _ = std::fs::remove_dir_all(&dist);
}
