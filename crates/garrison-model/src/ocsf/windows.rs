//! Objects of the OCSF Windows extension: registry keys and values, Windows services.

use super::objects::File;
use serde::Serialize;

/// `reg_key`: a registry key.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RegKey {
    /// The full key path as the source wrote it (`HKLM\SOFTWARE\...`).
    pub path: String,
}

/// `reg_value`: a named value under a registry key.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RegValue {
    /// The path of the key holding the value.
    pub path: String,
    /// The value's name (empty for the default value).
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub is_default: Option<bool>,
    /// `REG_SZ`, `REG_DWORD`, ...
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub type_name: Option<String>,
    /// The schema's id of `type` (2 REG_DWORD, 10 REG_SZ, ...).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub type_id: Option<u8>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reg_string_data: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reg_integer_data: Option<i64>,
    /// The data in the source's own rendering when its type is not known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data: Option<String>,
}

/// `win_service`: a Windows service.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct WinService {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cmd_line: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service_file: Option<File>,
    /// 1 Boot, 2 System, 3 Auto, 4 Demand, 5 Disabled, 99 Other.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service_start_type_id: Option<u8>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service_start_type: Option<String>,
    /// 1 Kernel Driver, 2 File System Driver, 3 Own Process, 4 Share Process, 99 Other.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service_type_id: Option<u8>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service_type: Option<String>,
    /// The account the service runs as.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service_start_name: Option<String>,
}
