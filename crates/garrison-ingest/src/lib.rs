//! Sources and normalizers: raw bytes in, model events (plus diagnostics) out.

pub mod normalize;
