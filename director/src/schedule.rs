//! Cron schedules with Vixie semantics, time zones and jitter, on top of the `croner` crate.
//!
//! The standard dialect takes exactly five fields (or an `@daily`-style macro): day of week 0 and
//! 7 are Sunday, and a restricted day of month and a restricted day of week are ORed. As in Vixie
//! cron, a day field that *starts with* `*` (e.g. `*/2`) counts as unrestricted, which keeps AND
//! semantics. The native dialect also accepts croner's optional leading seconds field.
//!
//! DST follows croner's documented rule: a wall-clock time that falls into a spring-forward gap
//! fires at the first valid time after it, and a time repeated by a fall-back fires once.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, Local, TimeZone, Utc};
use chrono_tz::Tz;
use croner::Cron;
use croner::parser::{CronParser, Seconds, Year};
use thiserror::Error;

/// An error in a schedule or time zone.
#[derive(Debug, Error)]
pub enum ScheduleError {
    /// The cron expression does not parse.
    #[error("invalid cron expression {expr:?}: {reason}")]
    Invalid {
        /// The expression as written.
        expr: String,
        /// Why it was rejected.
        reason: String,
    },
    /// The time zone name is not an IANA zone.
    #[error("unknown time zone {0:?} (expected an IANA name such as Europe/Rome)")]
    UnknownZone(String),
}

/// Which cron syntax a schedule was written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CronDialect {
    /// Exactly five fields (minute hour dom month dow) or a macro.
    Standard,
    /// Five fields or six with a leading seconds field (native configs only).
    WithSeconds,
    /// rsyncdirector's actual dialect (APScheduler 3 `from_crontab`): five fields, numeric day of
    /// week 0-6 with **0 = Monday**, day of month and day of week ANDed, no macros. Opt-in with
    /// `cron_dialect: apscheduler` for bit-compatible upstream behaviour.
    ApScheduler,
}

/// Rewrites an APScheduler day-of-week field (0 = Monday .. 6 = Sunday) into croner's numbering
/// (1 = Monday .. 7 = Sunday). Names are the same in both and are kept.
fn apscheduler_dow(field: &str) -> Result<String, String> {
    let shift = |n: &str| -> Result<String, String> {
        let v: u8 = n
            .parse()
            .map_err(|_| format!("invalid day of week {n:?}"))?;
        if v > 6 {
            return Err(format!(
                "day of week {v} is out of range: APScheduler numbers 0-6 with 0 = Monday"
            ));
        }
        Ok((v + 1).to_string())
    };
    let mut out = Vec::new();
    for tok in field.split(',') {
        if tok.chars().any(|c| c.is_ascii_alphabetic()) || tok == "*" {
            out.push(tok.to_string());
            continue;
        }
        let (range, step) = match tok.split_once('/') {
            Some((r, st)) => (r, Some(st)),
            None => (tok, None),
        };
        let range = match (range, step) {
            ("*", _) => "1-7".to_string(),
            (r, _) if r.contains('-') => {
                let (a, b) = r.split_once('-').unwrap_or((r, r));
                format!("{}-{}", shift(a)?, shift(b)?)
            }
            (r, Some(_)) => format!("{}-7", shift(r)?),
            (r, None) => shift(r)?,
        };
        out.push(match step {
            Some(st) => format!("{range}/{st}"),
            None => range,
        });
    }
    Ok(out.join(","))
}

/// The time zone in which a schedule is evaluated.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Zone {
    /// The host's local zone (TZ, /etc/localtime).
    Local,
    /// A named IANA zone.
    Named(Tz),
}

impl Zone {
    /// Parses an IANA zone name; `local` means the host zone.
    pub fn parse(name: &str) -> Result<Zone, ScheduleError> {
        if name.eq_ignore_ascii_case("local") {
            return Ok(Zone::Local);
        }
        Tz::from_str(name)
            .map(Zone::Named)
            .map_err(|_| ScheduleError::UnknownZone(name.to_string()))
    }

    /// Formats an instant in this zone as RFC 3339.
    pub fn format(&self, t: DateTime<Utc>) -> String {
        match self {
            Zone::Local => t.with_timezone(&Local).to_rfc3339(),
            Zone::Named(tz) => t.with_timezone(tz).to_rfc3339(),
        }
    }
}

impl fmt::Display for Zone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Zone::Local => f.write_str("local"),
            Zone::Named(tz) => write!(f, "{}", tz.name()),
        }
    }
}

/// A parsed cron schedule bound to a time zone.
#[derive(Debug, Clone)]
pub struct Schedule {
    expr: String,
    cron: Cron,
    zone: Zone,
}

impl Schedule {
    /// Parses `expr` in the given dialect and zone.
    pub fn parse(expr: &str, dialect: CronDialect, zone: Zone) -> Result<Schedule, ScheduleError> {
        let invalid = |reason: String| ScheduleError::Invalid {
            expr: expr.to_string(),
            reason,
        };
        let trimmed = expr.trim();
        let fields: Vec<&str> = trimmed.split_whitespace().collect();
        let is_macro = trimmed.starts_with('@');
        if is_macro && dialect == CronDialect::ApScheduler {
            return Err(invalid("the apscheduler dialect has no @macros".into()));
        }
        if is_macro {
            let known = [
                "@yearly",
                "@annually",
                "@monthly",
                "@weekly",
                "@daily",
                "@midnight",
                "@hourly",
            ];
            if fields.len() != 1 || !known.iter().any(|m| m.eq_ignore_ascii_case(trimmed)) {
                return Err(invalid(format!(
                    "unknown macro (expected one of {})",
                    known.join(", ")
                )));
            }
        } else {
            let ok = match dialect {
                CronDialect::Standard | CronDialect::ApScheduler => fields.len() == 5,
                CronDialect::WithSeconds => fields.len() == 5 || fields.len() == 6,
            };
            if !ok {
                return Err(invalid(format!(
                    "expected {} fields, found {}",
                    match dialect {
                        CronDialect::Standard | CronDialect::ApScheduler => "5",
                        CronDialect::WithSeconds => "5 or 6 (seconds first)",
                    },
                    fields.len()
                )));
            }
        }
        let pattern = if trimmed.eq_ignore_ascii_case("@midnight") {
            "0 0 * * *".to_string()
        } else if dialect == CronDialect::ApScheduler {
            let mut f: Vec<String> = fields.iter().map(|s| s.to_string()).collect();
            f[4] = apscheduler_dow(&f[4]).map_err(invalid)?;
            f.join(" ")
        } else {
            trimmed.to_string()
        };
        // Vixie cron: a day field starting with '*' is "unrestricted", so DOM and DOW are ANDed
        // (croner only treats a bare '*' that way).
        let n = fields.len();
        let dom_and_dow = dialect == CronDialect::ApScheduler
            || !is_macro && n >= 5 && {
                let (dom, dow) = (fields[n - 3], fields[n - 1]);
                (dom.starts_with('*') && dom != "*") || (dow.starts_with('*') && dow != "*")
            };
        let seconds = match dialect {
            CronDialect::Standard | CronDialect::ApScheduler => Seconds::Disallowed,
            CronDialect::WithSeconds => Seconds::Optional,
        };
        let cron = CronParser::builder()
            .seconds(seconds)
            .year(Year::Disallowed)
            .dom_and_dow(dom_and_dow)
            .build()
            .parse(&pattern)
            .map_err(|e| invalid(e.to_string()))?;
        Ok(Schedule {
            expr: expr.to_string(),
            cron,
            zone,
        })
    }

    /// The expression as written.
    pub fn expr(&self) -> &str {
        &self.expr
    }

    /// The zone the schedule is evaluated in.
    pub fn zone(&self) -> Zone {
        self.zone
    }

    /// True when both day fields are restricted, so Vixie cron ORs them (APScheduler, which
    /// rsyncdirector used, ANDs them instead).
    pub fn uses_dom_dow_or(&self) -> bool {
        let f: Vec<&str> = self.expr.split_whitespace().collect();
        f.len() >= 5 && !f[f.len() - 3].starts_with('*') && !f[f.len() - 1].starts_with('*')
    }

    /// True when the day-of-week field uses numbers (APScheduler numbered Monday as 0).
    pub fn uses_numeric_dow(&self) -> bool {
        let f: Vec<&str> = self.expr.split_whitespace().collect();
        f.len() >= 5 && f[f.len() - 1].chars().any(|c| c.is_ascii_digit())
    }

    /// The first fire time strictly after `after`.
    pub fn next_after(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        match self.zone {
            Zone::Local => next_in(&self.cron, &after.with_timezone(&Local)),
            Zone::Named(tz) => next_in(&self.cron, &after.with_timezone(&tz)),
        }
    }

    /// The last fire time at or before `at`, if any.
    pub fn prev_at_or_before(&self, at: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let r = match self.zone {
            Zone::Local => self
                .cron
                .find_previous_occurrence(&at.with_timezone(&Local), true)
                .map(|t| t.with_timezone(&Utc)),
            Zone::Named(tz) => self
                .cron
                .find_previous_occurrence(&at.with_timezone(&tz), true)
                .map(|t| t.with_timezone(&Utc)),
        };
        r.ok()
    }

    /// The next `n` fire times after `after`.
    pub fn upcoming(&self, after: DateTime<Utc>, n: usize) -> Vec<DateTime<Utc>> {
        let mut out = Vec::with_capacity(n);
        let mut t = after;
        while out.len() < n {
            match self.next_after(t) {
                Some(next) => {
                    out.push(next);
                    t = next;
                }
                None => break,
            }
        }
        out
    }
}

fn next_in<Z: TimeZone>(cron: &Cron, after: &DateTime<Z>) -> Option<DateTime<Utc>> {
    cron.find_next_occurrence(after, false)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// A random delay in `[0, max)`; zero when `max` is zero.
pub fn jitter(max: Duration) -> Duration {
    if max.is_zero() {
        return Duration::ZERO;
    }
    let ms = max.as_millis().min(u64::MAX as u128) as u64;
    Duration::from_millis(fastrand::u64(0..ms.max(1)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn sunday_is_zero_and_seven() {
        let z = Zone::Named(chrono_tz::UTC);
        let a = Schedule::parse("0 3 * * 0", CronDialect::Standard, z).unwrap();
        let b = Schedule::parse("0 3 * * 7", CronDialect::Standard, z).unwrap();
        // 2026-11-23 is a Monday.
        let from = utc("2026-11-23T00:00:00Z");
        assert_eq!(a.next_after(from), Some(utc("2026-11-29T03:00:00Z")));
        assert_eq!(b.next_after(from), Some(utc("2026-11-29T03:00:00Z")));
    }

    #[test]
    fn star_step_keeps_and_semantics() {
        let z = Zone::Named(chrono_tz::UTC);
        // Every other day AND Monday.
        let s = Schedule::parse("0 0 */2 * 1", CronDialect::Standard, z).unwrap();
        let next = s.next_after(utc("2026-11-23T00:00:00Z")).unwrap();
        // Nov 23 (Mon, odd day 23 -> dom */2 matches 1,3,..,23) fired at 00:00 exactly, so the
        // next must also be a Monday on an odd day.
        assert_eq!(next.format("%a").to_string(), "Mon");
    }

    #[test]
    fn apscheduler_day_of_week_mapping() {
        assert_eq!(apscheduler_dow("0").unwrap(), "1");
        assert_eq!(apscheduler_dow("0-4").unwrap(), "1-5");
        assert_eq!(apscheduler_dow("*/2").unwrap(), "1-7/2");
        assert_eq!(apscheduler_dow("5/1,mon").unwrap(), "6-7/1,mon");
        assert!(apscheduler_dow("7").is_err());
    }

    #[test]
    fn rejects_six_fields_in_standard() {
        let z = Zone::Local;
        assert!(Schedule::parse("0 0 3 * * *", CronDialect::Standard, z).is_err());
        assert!(Schedule::parse("0 0 3 * * *", CronDialect::WithSeconds, z).is_ok());
        assert!(Schedule::parse("@daily", CronDialect::Standard, z).is_ok());
        assert!(Schedule::parse("@reboot", CronDialect::Standard, z).is_err());
    }
}
