//! Protocol setup (`compat.c: setup_protocol`): version exchange, compat flags,
//! checksum/compression negotiation and the checksum seed.

use crate::codec::put_vstring;
use crate::compress::{COMPRESS_LIST, CompressionMethod};
use crate::error::WireError;
use crate::options::TransferOptions;
use crate::stream::ProtocolStream;

/// The newest protocol we speak.
pub const PROTOCOL_VERSION: u32 = 32;
/// The oldest protocol we speak.
pub const MIN_PROTOCOL_VERSION: u32 = 27;

/// `CF_INC_RECURSE`.
pub const CF_INC_RECURSE: u32 = 0x001;
/// `CF_SYMLINK_TIMES`.
pub const CF_SYMLINK_TIMES: u32 = 0x002;
/// `CF_SYMLINK_ICONV`.
pub const CF_SYMLINK_ICONV: u32 = 0x004;
/// `CF_SAFE_FLIST`.
pub const CF_SAFE_FLIST: u32 = 0x008;
/// `CF_AVOID_XATTR_OPTIM`.
pub const CF_AVOID_XATTR_OPTIM: u32 = 0x010;
/// `CF_CHKSUM_SEED_FIX`.
pub const CF_CHKSUM_SEED_FIX: u32 = 0x020;
/// `CF_INPLACE_PARTIAL_DIR`.
pub const CF_INPLACE_PARTIAL_DIR: u32 = 0x040;
/// `CF_VARINT_FLIST_FLAGS`.
pub const CF_VARINT_FLIST_FLAGS: u32 = 0x080;
/// `CF_ID0_NAMES`.
pub const CF_ID0_NAMES: u32 = 0x100;

/// Compat flags a server may set given our `e.LsfxCIvu` (`CF_INC_RECURSE` only when we
/// also sent `i`).
pub const ALLOWED_COMPAT_FLAGS: u32 = CF_SYMLINK_TIMES
    | CF_SYMLINK_ICONV
    | CF_SAFE_FLIST
    | CF_AVOID_XATTR_OPTIM
    | CF_CHKSUM_SEED_FIX
    | CF_INPLACE_PARTIAL_DIR
    | CF_VARINT_FLIST_FLAGS
    | CF_ID0_NAMES;

/// Our checksum preference list: a subsequence of rsync's canonical order, without md4.
pub const CHECKSUM_LIST: &str = "xxh128 xxh3 xxh64 md5";
/// Longest negotiation string we accept.
pub const MAX_NEGOTIATION_LEN: usize = 255;

/// The result of the protocol setup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionParams {
    /// Negotiated protocol version.
    pub protocol: u32,
    /// The version the remote announced.
    pub remote_protocol: u32,
    /// Compat flags (0 below protocol 30).
    pub compat_flags: u32,
    /// Transfer checksum name (`md4`, `md5`, `xxh128`, ...).
    pub checksum: String,
    /// The session checksum seed.
    pub seed: i32,
    /// The compression method of the token stream, if any.
    pub compression: Option<CompressionMethod>,
}

impl SessionParams {
    /// Whether file-list flags are varints.
    pub fn varint_flist_flags(&self) -> bool {
        self.compat_flags & CF_VARINT_FLIST_FLAGS != 0
    }
    /// Whether the io_error travels in the end-of-list marker.
    pub fn safe_flist(&self) -> bool {
        self.protocol >= 31 || self.compat_flags & CF_SAFE_FLIST != 0
    }
    /// Whether the MD5 seed is hashed first.
    pub fn seed_fix(&self) -> bool {
        self.compat_flags & CF_CHKSUM_SEED_FIX != 0
    }
    /// Whether id lists carry the name of id 0.
    pub fn id0_names(&self) -> bool {
        self.compat_flags & CF_ID0_NAMES != 0
    }
}

/// Picks the first name of `ours` that `theirs` lists.
pub fn choose_from_lists(ours: &str, theirs: &str) -> Option<String> {
    let their: Vec<&str> = theirs.split_ascii_whitespace().collect();
    ours.split_ascii_whitespace()
        .find(|n| their.contains(n))
        .map(str::to_string)
}

/// Where the client handshake is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum HandshakeStep {
    SendVersion,
    ReadVersion,
    ReadCompat,
    ReadChecksumList,
    ReadCompressList,
    ReadSeed,
    Done,
}

/// The client side of `setup_protocol` as a sans-IO state machine.
#[derive(Debug, Clone)]
pub struct ClientHandshake {
    opts: TransferOptions,
    step: HandshakeStep,
    remote: u32,
    protocol: u32,
    compat_flags: u32,
    checksum: String,
    compression: Option<CompressionMethod>,
    send_checksums: bool,
    send_compress: bool,
    /// We sent `i`: the server may turn incremental recursion on.
    inc_recurse_offered: bool,
}

impl ClientHandshake {
    /// A handshake for `opts`.
    pub fn new(opts: &TransferOptions) -> Self {
        ClientHandshake {
            opts: opts.clone(),
            step: HandshakeStep::SendVersion,
            remote: 0,
            protocol: 0,
            compat_flags: 0,
            checksum: String::new(),
            compression: None,
            send_checksums: false,
            send_compress: false,
            inc_recurse_offered: false,
        }
    }

    /// Accept `CF_INC_RECURSE` from the server (we sent `i` in `-e.`).
    pub fn offering_inc_recurse(mut self, offered: bool) -> Self {
        self.inc_recurse_offered = offered;
        self
    }

    /// Advances as far as the input allows: `Ok(None)` = feed more bytes;
    /// `Ok(Some(params))` = done (multiplexing has been switched on in `s`).
    pub fn advance(&mut self, s: &mut ProtocolStream) -> Result<Option<SessionParams>, WireError> {
        loop {
            match self.step {
                HandshakeStep::SendVersion => {
                    let ours = self.opts.our_protocol();
                    if !(MIN_PROTOCOL_VERSION..=PROTOCOL_VERSION).contains(&ours) {
                        return Err(WireError::Syntax(format!(
                            "--protocol must be between {MIN_PROTOCOL_VERSION} and {PROTOCOL_VERSION}"
                        )));
                    }
                    s.write(&(ours as i32).to_le_bytes());
                    self.step = HandshakeStep::ReadVersion;
                }
                HandshakeStep::ReadVersion => {
                    let Some(remote) = s.try_read(&mut |c| c.i32())? else {
                        return Ok(None);
                    };
                    if !(20..=40).contains(&remote) {
                        return Err(WireError::protocol(format!(
                            "protocol version mismatch -- is your shell clean? (remote sent {remote:#x})"
                        )));
                    }
                    self.remote = remote as u32;
                    self.protocol = self.opts.our_protocol().min(self.remote);
                    if self.protocol < MIN_PROTOCOL_VERSION {
                        return Err(WireError::protocol(format!(
                            "remote protocol {} is older than {MIN_PROTOCOL_VERSION}, which rdsync requires",
                            self.remote
                        )));
                    }
                    s.set_protocol(self.protocol);
                    self.checksum = if self.protocol >= 30 { "md5" } else { "md4" }.to_string();
                    // Without negotiation `-z` means zlib; an explicit choice is used as given.
                    self.compression = match &self.opts.compress_choice {
                        Some(name) => {
                            Some(CompressionMethod::from_name(name).ok_or_else(|| {
                                WireError::Unsupported(format!(
                                    "unsupported compression method {name}"
                                ))
                            })?)
                        }
                        None if self.opts.compressing() => Some(CompressionMethod::Zlib),
                        None => None,
                    };
                    self.step = if self.protocol >= 30 {
                        HandshakeStep::ReadCompat
                    } else {
                        HandshakeStep::ReadSeed
                    };
                }
                HandshakeStep::ReadCompat => {
                    let Some(flags) = s.try_read(&mut |c| c.varint())? else {
                        return Ok(None);
                    };
                    let flags = flags as u32;
                    if flags & CF_INC_RECURSE != 0 && !self.inc_recurse_offered {
                        return Err(WireError::protocol(
                            "Incompatible options specified for inc-recursive connection",
                        ));
                    }
                    if flags & !(ALLOWED_COMPAT_FLAGS | CF_INC_RECURSE) != 0 {
                        return Err(WireError::protocol(format!(
                            "peer set compat flags we did not offer: {flags:#x}"
                        )));
                    }
                    self.compat_flags = flags;
                    self.step = HandshakeStep::ReadSeed;
                    if flags & CF_VARINT_FLIST_FLAGS != 0 {
                        // Each side writes its lists before reading the peer's.
                        self.send_checksums = self.opts.checksum_choice.is_none();
                        self.send_compress = self.opts.negotiates_compression();
                        let mut buf = Vec::new();
                        if self.send_checksums {
                            put_vstring(&mut buf, CHECKSUM_LIST.as_bytes())?;
                        }
                        if self.send_compress {
                            put_vstring(&mut buf, COMPRESS_LIST.as_bytes())?;
                        }
                        s.write(&buf);
                        if self.send_checksums {
                            self.step = HandshakeStep::ReadChecksumList;
                        } else if self.send_compress {
                            self.step = HandshakeStep::ReadCompressList;
                        }
                    }
                }
                HandshakeStep::ReadChecksumList => {
                    let Some(theirs) = try_read_list(s)? else {
                        return Ok(None);
                    };
                    self.checksum = choose_from_lists(CHECKSUM_LIST, &theirs).ok_or_else(|| {
                        WireError::Unsupported(format!(
                            "Failed to negotiate a checksum choice (server offered: {theirs})"
                        ))
                    })?;
                    self.step = if self.send_compress {
                        HandshakeStep::ReadCompressList
                    } else {
                        HandshakeStep::ReadSeed
                    };
                }
                HandshakeStep::ReadCompressList => {
                    let Some(theirs) = try_read_list(s)? else {
                        return Ok(None);
                    };
                    let name = choose_from_lists(COMPRESS_LIST, &theirs).ok_or_else(|| {
                        WireError::Unsupported(format!(
                            "Failed to negotiate a compression choice (server offered: {theirs})"
                        ))
                    })?;
                    self.compression = CompressionMethod::from_name(&name);
                    self.step = HandshakeStep::ReadSeed;
                }
                HandshakeStep::ReadSeed => {
                    if let Some(choice) = &self.opts.checksum_choice {
                        self.checksum = choice.split(',').next().unwrap_or(choice).to_string();
                    }
                    let Some(seed) = s.try_read(&mut |c| c.i32())? else {
                        return Ok(None);
                    };
                    s.start_multiplex(true, self.protocol >= 30);
                    // rsync's client_run starts its buffered output here.
                    s.setup_done = true;
                    self.step = HandshakeStep::Done;
                    return Ok(Some(SessionParams {
                        protocol: self.protocol,
                        remote_protocol: self.remote,
                        compat_flags: self.compat_flags,
                        checksum: self.checksum.clone(),
                        seed,
                        // A level can turn compression off (zlib at 0); the server
                        // settles it the same way from the --compress-level we sent.
                        compression: self
                            .compression
                            .filter(|m| m.level(self.opts.compress_level).is_some()),
                    }));
                }
                HandshakeStep::Done => {
                    return Err(WireError::protocol("handshake already finished"));
                }
            }
        }
    }
}

fn try_read_list(s: &mut ProtocolStream) -> Result<Option<String>, WireError> {
    let raw = s.try_read(&mut |c| c.vstring(MAX_NEGOTIATION_LEN).map(<[u8]>::to_vec))?;
    Ok(raw.map(|r| String::from_utf8_lossy(&r).into_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn choice_is_first_of_ours_that_they_list() {
        assert_eq!(
            choose_from_lists(CHECKSUM_LIST, "xxh128 xxh3 xxh64 md5 md4 sha1 none").as_deref(),
            Some("xxh128")
        );
        assert_eq!(
            choose_from_lists(CHECKSUM_LIST, "md5 md4").as_deref(),
            Some("md5")
        );
        assert_eq!(choose_from_lists(CHECKSUM_LIST, "md4 sha1"), None);
    }
}
