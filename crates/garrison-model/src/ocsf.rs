//! OCSF-aligned normalized records (filled in by the OCSF work).
