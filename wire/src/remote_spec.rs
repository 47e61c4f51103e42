//! Recognising `[user@]host:path` arguments the way rsync's `parse_hostspec` /
//! `check_for_hostspec` do (remote-shell form only; `host::module` and `rsync://` are
//! daemon forms this crate does not speak).

/// A remote-shell location: `[user@]host:path`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteSpec {
    /// The user before `@`, if any.
    pub user: Option<String>,
    /// The host (IPv6 brackets removed).
    pub host: String,
    /// The path after the colon (may be empty: the remote home directory).
    pub path: String,
}

/// What an rsync command-line argument names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// A local path.
    Local(String),
    /// A remote-shell location.
    Remote(RemoteSpec),
    /// `host::module/path` or `rsync://…`: the daemon protocol.
    Daemon(String),
}

/// Classifies an argument as rsync does: a colon before any slash makes it remote.
pub fn parse_location(arg: &str) -> Location {
    if arg.starts_with("rsync://") {
        return Location::Daemon(arg.to_string());
    }
    let (host_part, rest) = if let Some(stripped) = arg.strip_prefix('[').or_else(|| {
        // user@[v6]:path
        arg.find("@[")
            .map(|i| arg.get(i + 1..).unwrap_or(""))
            .and_then(|s| s.strip_prefix('['))
    }) {
        match stripped.find("]:") {
            Some(end) => {
                let user_prefix = arg.find("@[").and_then(|i| arg.get(..i));
                let host = stripped.get(..end).unwrap_or("");
                let rest = stripped.get(end + 2..).unwrap_or("");
                let joined = match user_prefix {
                    Some(u) => format!("{u}@{host}"),
                    None => host.to_string(),
                };
                (joined, rest.to_string())
            }
            None => return Location::Local(arg.to_string()),
        }
    } else {
        let Some(colon) = arg.find(':') else {
            return Location::Local(arg.to_string());
        };
        if arg.get(..colon).is_some_and(|h| h.contains('/')) {
            return Location::Local(arg.to_string());
        }
        (
            arg.get(..colon).unwrap_or("").to_string(),
            arg.get(colon + 1..).unwrap_or("").to_string(),
        )
    };
    if rest.starts_with(':') {
        return Location::Daemon(arg.to_string());
    }
    let (user, host) = match host_part.rsplit_once('@') {
        Some((u, h)) => (Some(u.to_string()), h.to_string()),
        None => (None, host_part),
    };
    if host.is_empty() {
        return Location::Local(arg.to_string());
    }
    Location::Remote(RemoteSpec {
        user,
        host,
        path: rest,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn remote(user: Option<&str>, host: &str, path: &str) -> Location {
        Location::Remote(RemoteSpec {
            user: user.map(str::to_string),
            host: host.into(),
            path: path.into(),
        })
    }

    #[test]
    fn classifies_like_rsync() {
        assert_eq!(parse_location("host:dir/"), remote(None, "host", "dir/"));
        assert_eq!(parse_location("bob@host:"), remote(Some("bob"), "host", ""));
        assert_eq!(parse_location("[::1]:x"), remote(None, "::1", "x"));
        assert_eq!(
            parse_location("bob@[fe80::1]:x"),
            remote(Some("bob"), "fe80::1", "x")
        );
        assert_eq!(parse_location("./a:b"), Location::Local("./a:b".into()));
        assert_eq!(parse_location("plain"), Location::Local("plain".into()));
        assert!(matches!(parse_location("host::mod/x"), Location::Daemon(_)));
        assert!(matches!(
            parse_location("rsync://host/mod"),
            Location::Daemon(_)
        ));
    }
}
