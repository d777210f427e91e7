//! A product's picture: which files are taken (raster formats a browser
//! shows as an image, never SVG or HTML), how large, and the address it is
//! served at.

use crate::error::Error;
use sha2::{Digest, Sha256};

/// The most bytes one picture may have.
pub const MAX_BYTES: usize = 1_000_000;
/// The longest side, in pixels.
pub const MAX_SIDE: usize = 8192;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Webp,
    Avif,
    Png,
    Jpeg,
}

impl Format {
    pub const ALL: [Format; 4] = [Format::Webp, Format::Avif, Format::Png, Format::Jpeg];

    pub fn content_type(self) -> &'static str {
        match self {
            Format::Webp => "image/webp",
            Format::Avif => "image/avif",
            Format::Png => "image/png",
            Format::Jpeg => "image/jpeg",
        }
    }

    pub fn extension(self) -> &'static str {
        match self {
            Format::Webp => "webp",
            Format::Avif => "avif",
            Format::Png => "png",
            Format::Jpeg => "jpg",
        }
    }

    pub fn from_content_type(value: &str) -> Option<Self> {
        let essence = value.split(';').next().unwrap_or("").trim();
        Self::ALL
            .into_iter()
            .find(|f| f.content_type().eq_ignore_ascii_case(essence))
    }

    /// What the first bytes say the file is.
    pub fn sniff(bytes: &[u8]) -> Option<Self> {
        if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
            Some(Format::Png)
        } else if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
            Some(Format::Jpeg)
        } else if bytes.len() >= 12 && &bytes[..4] == b"RIFF" && &bytes[8..12] == b"WEBP" {
            Some(Format::Webp)
        } else if bytes.len() >= 12
            && &bytes[4..8] == b"ftyp"
            && matches!(&bytes[8..12], b"avif" | b"avis")
        {
            Some(Format::Avif)
        } else {
            None
        }
    }
}

/// A picture that passed every check, ready to store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checked {
    pub format: Format,
    pub width: i32,
    pub height: i32,
    /// SHA-256 of the bytes, hex.
    pub digest: String,
}

/// Checks an upload: its declared type is one of [`Format`], its bytes are
/// that format (by their signature and a readable header), at most
/// [`MAX_BYTES`] and [`MAX_SIDE`] pixels a side.
pub fn check(declared: Option<&str>, bytes: &[u8]) -> Result<Checked, Error> {
    let allowed = "image/webp, image/avif, image/png or image/jpeg";
    let Some(format) = declared.and_then(Format::from_content_type) else {
        return Err(Error::UnsupportedImage(format!(
            "Send the picture as {allowed} (Content-Type)"
        )));
    };
    if bytes.is_empty() {
        return Err(Error::invalid_field(&["body"], "The picture is empty"));
    }
    if bytes.len() > MAX_BYTES {
        return Err(Error::ImageTooLarge);
    }
    if Format::sniff(bytes) != Some(format) {
        return Err(Error::invalid_field(
            &["body"],
            format!("The file is not a {} picture", format.extension()),
        ));
    }
    let size = imagesize::blob_size(bytes)
        .map_err(|_| Error::invalid_field(&["body"], "The picture's header cannot be read"))?;
    if size.width == 0 || size.height == 0 || size.width > MAX_SIDE || size.height > MAX_SIDE {
        return Err(Error::invalid_field(
            &["body"],
            format!("The picture must be 1 to {MAX_SIDE} pixels a side"),
        ));
    }
    Ok(Checked {
        format,
        width: size.width as i32,
        height: size.height as i32,
        digest: hex(&Sha256::digest(bytes)),
    })
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The picture's address at the gateway, with its version: a new picture
/// gets a new address, so a copy may be kept for a year.
pub fn url(product_id: i64, digest: &str) -> String {
    format!("/products/{product_id}/image?v={}", version(digest))
}

/// The part of the fingerprint an address carries.
pub fn version(digest: &str) -> &str {
    &digest[..digest.len().min(16)]
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 1×1 PNG.
    const PNG: &[u8] = &[
        0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44,
        0x52, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1f,
        0x15, 0xc4, 0x89, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9c, 0x63, 0x60,
        0x00, 0x02, 0x00, 0x00, 0x05, 0x00, 0x01, 0xe9, 0xfa, 0xdc, 0xd8, 0x00, 0x00, 0x00, 0x00,
        0x49, 0x45, 0x4e, 0x44, 0xae, 0x42, 0x60, 0x82,
    ];

    fn status(e: Error) -> u16 {
        shop_platform::ApiError::from(e).status().as_u16()
    }

    #[test]
    fn a_png_declared_as_png_is_taken_with_its_size() {
        let c = check(Some("image/png"), PNG).unwrap();
        assert_eq!((c.format, c.width, c.height), (Format::Png, 1, 1));
        assert_eq!(c.digest.len(), 64);
    }

    #[test]
    fn html_svg_and_a_lying_type_are_refused() {
        let html = b"<!doctype html><script>alert(1)</script>";
        assert_eq!(status(check(Some("image/png"), html).unwrap_err()), 422);
        assert_eq!(
            status(check(Some("image/svg+xml"), b"<svg/>").unwrap_err()),
            415
        );
        assert_eq!(status(check(Some("text/html"), html).unwrap_err()), 415);
        assert_eq!(status(check(None, PNG).unwrap_err()), 415);
        // PNG bytes sent as JPEG.
        assert_eq!(status(check(Some("image/jpeg"), PNG).unwrap_err()), 422);
        // A PNG signature on something that is not one.
        let mut fake = PNG[..8].to_vec();
        fake.extend_from_slice(b"not really");
        assert_eq!(status(check(Some("image/png"), &fake).unwrap_err()), 422);
    }

    #[test]
    fn an_empty_or_oversized_picture_is_refused() {
        assert_eq!(status(check(Some("image/png"), b"").unwrap_err()), 422);
        let mut big = PNG.to_vec();
        big.resize(MAX_BYTES + 1, 0);
        assert_eq!(status(check(Some("image/png"), &big).unwrap_err()), 413);
    }

    #[test]
    fn the_address_carries_the_version() {
        let digest = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
        assert_eq!(url(7, digest), "/products/7/image?v=0123456789abcdef");
    }
}
