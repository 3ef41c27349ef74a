//! Percent-encoding for the links, redirects and forms the server writes.

/// `text` with every byte but `keep`'s and the unreserved characters percent-encoded.
fn encode(text: &str, keep: &[u8]) -> String {
    let mut encoded = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) || keep.contains(&byte) {
            encoded.push(byte as char);
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    encoded
}

/// `text` as a query-string value (slashes kept: paths read better in links).
pub fn query_value(text: &str) -> String {
    encode(text, b"/")
}

/// `text` as one path segment or one form field (slashes encoded too).
pub fn component(text: &str) -> String {
    encode(text, b"")
}

#[cfg(test)]
mod tests {
    #[test]
    fn reserved_characters_are_encoded() {
        assert_eq!(
            super::query_value("/incidents/a b?c"),
            "/incidents/a%20b%3Fc"
        );
        assert_eq!(super::component("CORP\\dana/x"), "CORP%5Cdana%2Fx");
        assert_eq!(super::component("é"), "%C3%A9");
    }
}
