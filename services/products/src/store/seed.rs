//! The demo catalogue, written into an empty database on first start so a
//! newcomer has something to browse: 26 products in 5 categories, a few with
//! little stock (3, 1) and one sold out.

use crate::domain::image;
use rust_decimal::Decimal;
use sqlx::PgPool;
use std::str::FromStr;

/// (name, sku, category, price, stock, description)
const DEMO: &[(&str, &str, &str, &str, i32, &str)] = &[
    (
        "Mechanical Keyboard",
        "KB-MECH-01",
        "Electronics",
        "89.99",
        25,
        "Tactile switches, aluminium frame, USB-C.",
    ),
    (
        "Wireless Mouse",
        "MS-WL-02",
        "Electronics",
        "29.99",
        40,
        "Silent clicks and a battery that lasts months.",
    ),
    (
        "27\" 4K Monitor",
        "MON-4K-27",
        "Electronics",
        "329.00",
        3,
        "IPS panel with USB-C power delivery.",
    ),
    (
        "Noise-Cancelling Headphones",
        "HP-NC-700",
        "Electronics",
        "199.50",
        12,
        "Over-ear, 30 hours of playback.",
    ),
    (
        "USB-C Hub",
        "HUB-USBC-7",
        "Electronics",
        "45.00",
        60,
        "Seven ports including HDMI and Ethernet.",
    ),
    (
        "Webcam HD",
        "CAM-HD-1080",
        "Electronics",
        "59.90",
        0,
        "1080p with a privacy shutter.",
    ),
    (
        "The Rust Programming Language",
        "BK-RUST-2E",
        "Books",
        "39.95",
        30,
        "The official book, second edition.",
    ),
    (
        "Designing Data-Intensive Applications",
        "BK-DDIA",
        "Books",
        "42.50",
        18,
        "Reliable, scalable and maintainable systems.",
    ),
    (
        "Zero To Production",
        "BK-Z2P",
        "Books",
        "35.00",
        1,
        "Backend development in Rust.",
    ),
    (
        "The Pragmatic Programmer",
        "BK-PRAG-20",
        "Books",
        "37.99",
        22,
        "20th anniversary edition.",
    ),
    (
        "Clean Architecture",
        "BK-CLEAN-ARCH",
        "Books",
        "31.00",
        9,
        "A craftsman's guide to software structure.",
    ),
    (
        "Chef's Knife",
        "KT-KNIFE-8",
        "Home & Kitchen",
        "64.00",
        15,
        "Eight-inch forged steel blade.",
    ),
    (
        "Cast Iron Skillet",
        "KT-SKIL-10",
        "Home & Kitchen",
        "34.99",
        20,
        "Pre-seasoned, ten inches.",
    ),
    (
        "French Press",
        "KT-FP-1L",
        "Home & Kitchen",
        "27.50",
        35,
        "One litre, double-walled glass.",
    ),
    (
        "Bamboo Cutting Board",
        "KT-BOARD-L",
        "Home & Kitchen",
        "19.99",
        50,
        "Large, with a juice groove.",
    ),
    (
        "Desk Lamp",
        "HM-LAMP-LED",
        "Home & Kitchen",
        "24.00",
        3,
        "Dimmable LED with a warm setting.",
    ),
    (
        "Yoga Mat",
        "SP-YOGA-6",
        "Sports",
        "25.00",
        45,
        "Six millimetres, non-slip.",
    ),
    (
        "Adjustable Dumbbells",
        "SP-DB-24",
        "Sports",
        "149.00",
        6,
        "Two to twenty-four kilograms each.",
    ),
    (
        "Running Shoes",
        "SP-RUN-42",
        "Sports",
        "89.00",
        14,
        "Lightweight road shoes.",
    ),
    (
        "Water Bottle",
        "SP-BTL-750",
        "Sports",
        "15.99",
        80,
        "Insulated steel, 750 ml.",
    ),
    (
        "Jump Rope",
        "SP-ROPE-SPD",
        "Sports",
        "9.99",
        1,
        "Speed rope with ball bearings.",
    ),
    (
        "Merino T-Shirt",
        "CL-TEE-MER",
        "Clothing",
        "49.00",
        28,
        "Soft, breathable, odour-resistant.",
    ),
    (
        "Rain Jacket",
        "CL-JKT-RAIN",
        "Clothing",
        "119.00",
        8,
        "Waterproof and packable.",
    ),
    (
        "Wool Socks",
        "CL-SOCK-3P",
        "Clothing",
        "18.00",
        70,
        "Three pairs, cushioned.",
    ),
    (
        "Canvas Backpack",
        "CL-BAG-25",
        "Clothing",
        "69.00",
        11,
        "25 litres with a laptop sleeve.",
    ),
    (
        "Baseball Cap",
        "CL-CAP-NVY",
        "Clothing",
        "21.00",
        33,
        "Navy cotton twill.",
    ),
];

macro_rules! picture {
    ($sku:literal) => {
        (
            $sku,
            include_bytes!(concat!("../../demo-images/", $sku, ".webp")).as_slice(),
        )
    };
}

/// Each demo product's picture (demo-images/README.md), by SKU.
const PICTURES: &[(&str, &[u8])] = &[
    picture!("KB-MECH-01"),
    picture!("MS-WL-02"),
    picture!("MON-4K-27"),
    picture!("HP-NC-700"),
    picture!("HUB-USBC-7"),
    picture!("CAM-HD-1080"),
    picture!("BK-RUST-2E"),
    picture!("BK-DDIA"),
    picture!("BK-Z2P"),
    picture!("BK-PRAG-20"),
    picture!("BK-CLEAN-ARCH"),
    picture!("KT-KNIFE-8"),
    picture!("KT-SKIL-10"),
    picture!("KT-FP-1L"),
    picture!("KT-BOARD-L"),
    picture!("HM-LAMP-LED"),
    picture!("SP-YOGA-6"),
    picture!("SP-DB-24"),
    picture!("SP-RUN-42"),
    picture!("SP-BTL-750"),
    picture!("SP-ROPE-SPD"),
    picture!("CL-TEE-MER"),
    picture!("CL-JKT-RAIN"),
    picture!("CL-SOCK-3P"),
    picture!("CL-BAG-25"),
    picture!("CL-CAP-NVY"),
];

/// Inserts the demo products, each with its picture, when the catalogue is
/// empty. Returns how many.
pub async fn seed_if_empty(pool: &PgPool) -> anyhow::Result<usize> {
    let mut tx = pool.begin().await?;
    // Serialise concurrent first starts so only one of them seeds.
    sqlx::query("LOCK TABLE products IN SHARE ROW EXCLUSIVE MODE")
        .execute(&mut *tx)
        .await?;
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM products")
        .fetch_one(&mut *tx)
        .await?;
    if count > 0 {
        return Ok(0);
    }
    for (name, sku, category, price, stock, description) in DEMO {
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO products (name, sku, category, price, stock_quantity, description)
             VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
        )
        .bind(name)
        .bind(sku)
        .bind(category)
        .bind(Decimal::from_str(price)?)
        .bind(stock)
        .bind(description)
        .fetch_one(&mut *tx)
        .await?;
        let Some((_, bytes)) = PICTURES.iter().find(|(s, _)| s == sku) else {
            continue;
        };
        let picture = image::check(Some("image/webp"), bytes)
            .map_err(|e| anyhow::anyhow!("the demo picture of {sku}: {e}"))?;
        sqlx::query(
            "INSERT INTO product_images (product_id, content_type, width, height, bytes, digest)
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(id)
        .bind(picture.format.content_type())
        .bind(picture.width)
        .bind(picture.height)
        .bind(*bytes)
        .bind(&picture.digest)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    tracing::info!(products = DEMO.len(), "seeded the demo catalogue");
    Ok(DEMO.len())
}

#[cfg(test)]
mod tests {
    use super::DEMO;
    use std::collections::BTreeSet;

    #[test]
    fn demo_catalogue_has_the_promised_shape() {
        assert!(DEMO.len() >= 24);
        let categories: BTreeSet<_> = DEMO.iter().map(|p| p.2).collect();
        assert!(categories.len() >= 4);
        for stock in [3, 1, 0] {
            assert!(
                DEMO.iter().any(|p| p.4 == stock),
                "a product with stock {stock}"
            );
        }
        let skus: BTreeSet<_> = DEMO.iter().map(|p| p.1).collect();
        assert_eq!(skus.len(), DEMO.len(), "unique SKUs");
        let pictured: BTreeSet<_> = super::PICTURES.iter().map(|p| p.0).collect();
        assert_eq!(pictured, skus, "a picture for every demo product");
        for (sku, bytes) in super::PICTURES {
            let checked = super::image::check(Some("image/webp"), bytes).unwrap();
            assert_eq!((checked.width, checked.height), (640, 480), "{sku}");
        }
    }
}
