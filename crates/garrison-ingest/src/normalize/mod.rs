//! Normalizers from decoded records to OCSF.
