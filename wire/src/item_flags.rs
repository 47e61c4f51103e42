//! `ITEM_*` flags of generator requests and sender replies (16 bits on the wire).

/// Access time changed.
pub const ITEM_REPORT_ATIME: u16 = 1 << 0;
/// Checksum / link target changed.
pub const ITEM_REPORT_CHANGE: u16 = 1 << 1;
/// Size changed.
pub const ITEM_REPORT_SIZE: u16 = 1 << 2;
/// Time changed.
pub const ITEM_REPORT_TIME: u16 = 1 << 3;
/// Permissions changed.
pub const ITEM_REPORT_PERMS: u16 = 1 << 4;
/// Owner changed.
pub const ITEM_REPORT_OWNER: u16 = 1 << 5;
/// Group changed.
pub const ITEM_REPORT_GROUP: u16 = 1 << 6;
/// A basis-type byte follows.
pub const ITEM_BASIS_TYPE_FOLLOWS: u16 = 1 << 11;
/// A vstring name follows.
pub const ITEM_XNAME_FOLLOWS: u16 = 1 << 12;
/// The item is new.
pub const ITEM_IS_NEW: u16 = 1 << 13;
/// The receiver changed something itself.
pub const ITEM_LOCAL_CHANGE: u16 = 1 << 14;
/// File data are requested.
pub const ITEM_TRANSFER: u16 = 1 << 15;
