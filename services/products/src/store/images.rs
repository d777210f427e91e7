//! Where products' pictures are kept: behind [`Images`], so a deployment
//! can move them to an object store; [`PgImages`] keeps them in the
//! catalogue's database, which every replica shares.

use crate::{domain::image::Checked, error::Error};
use async_trait::async_trait;
use sqlx::PgPool;

/// A stored picture, as served.
#[derive(Debug, Clone)]
pub struct Stored {
    pub content_type: String,
    pub digest: String,
    pub bytes: Vec<u8>,
}

/// What a stored picture is, without its bytes.
#[derive(Debug, Clone)]
pub struct Version {
    pub content_type: String,
    pub digest: String,
}

#[async_trait]
pub trait Images: std::fmt::Debug + Send + Sync {
    /// Keeps `bytes` as the product's picture, replacing any; false when no
    /// such product exists.
    async fn put(&self, product_id: i64, picture: &Checked, bytes: &[u8]) -> Result<bool, Error>;

    /// The picture's type and fingerprint: enough to answer a revalidation.
    async fn version(&self, product_id: i64) -> Result<Option<Version>, Error>;

    async fn get(&self, product_id: i64) -> Result<Option<Stored>, Error>;

    /// False when the product had no picture.
    async fn delete(&self, product_id: i64) -> Result<bool, Error>;
}

#[derive(Debug, Clone)]
pub struct PgImages(pub PgPool);

#[async_trait]
impl Images for PgImages {
    async fn put(&self, product_id: i64, picture: &Checked, bytes: &[u8]) -> Result<bool, Error> {
        let mut tx = self.0.begin().await?;
        // The bytes first, so the product's row (which checkouts lock) is
        // held only for the short update after; the foreign key finds an
        // unknown product.
        let written = sqlx::query(
            "INSERT INTO product_images (product_id, content_type, width, height, bytes, digest)
             VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (product_id) DO UPDATE SET content_type = EXCLUDED.content_type,
                 width = EXCLUDED.width, height = EXCLUDED.height, bytes = EXCLUDED.bytes,
                 digest = EXCLUDED.digest, updated_at = now()",
        )
        .bind(product_id)
        .bind(picture.format.content_type())
        .bind(picture.width)
        .bind(picture.height)
        .bind(bytes)
        .bind(&picture.digest)
        .execute(&mut *tx)
        .await;
        match written {
            Err(sqlx::Error::Database(e)) if e.is_foreign_key_violation() => return Ok(false),
            other => other?,
        };
        // The product's row changes with its picture: its `updated_at`, and
        // the catalogue trigger tells every replica to forget its copy.
        sqlx::query("UPDATE products SET updated_at = now() WHERE id = $1")
            .bind(product_id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn version(&self, product_id: i64) -> Result<Option<Version>, Error> {
        let row: Option<(String, String)> =
            sqlx::query_as("SELECT content_type, digest FROM product_images WHERE product_id = $1")
                .bind(product_id)
                .fetch_optional(&self.0)
                .await?;
        Ok(row.map(|(content_type, digest)| Version {
            content_type,
            digest,
        }))
    }

    async fn get(&self, product_id: i64) -> Result<Option<Stored>, Error> {
        let row: Option<(String, String, Vec<u8>)> = sqlx::query_as(
            "SELECT content_type, digest, bytes FROM product_images WHERE product_id = $1",
        )
        .bind(product_id)
        .fetch_optional(&self.0)
        .await?;
        Ok(row.map(|(content_type, digest, bytes)| Stored {
            content_type,
            digest,
            bytes,
        }))
    }

    async fn delete(&self, product_id: i64) -> Result<bool, Error> {
        let mut tx = self.0.begin().await?;
        let deleted = sqlx::query("DELETE FROM product_images WHERE product_id = $1")
            .bind(product_id)
            .execute(&mut *tx)
            .await?
            .rows_affected()
            == 1;
        if deleted {
            sqlx::query("UPDATE products SET updated_at = now() WHERE id = $1")
                .bind(product_id)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(deleted)
    }
}
