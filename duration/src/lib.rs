//! Duration settings: one way to write them, in every configuration of the
//! workspace (`s3gw.toml` with its `[keys]` section, buckets-lite's file,
//! and their `S3GW__...` environment overrides).
//!
//! A duration is a [humantime](https://docs.rs/humantime) string —
//! `"500ms"`, `"2s"`, `"15m"`, `"1h 30m"`, `"7days"` — or a bare number,
//! which is **seconds** (fractions allowed: `0.5`). Seconds is the unit of
//! every duration key that took a bare number before humantime
//! (`auth.max_clock_skew`, `auth.max_presign_lifetime`, the `[keys]`
//! intervals), so those files keep their meaning. A number given as text
//! (every environment variable is text) means the same as the number.
//! Anything else is refused; the configuration loaders add the key's name.
//!
//! Keys that carried their unit in their name (`*_ms`, `*_secs`) are
//! deprecated in favour of the same name without the suffix. [`Renamed`]
//! describes one such pair: it converts the old key's integer in its own
//! unit and words the deprecation warning and the error when both are set.

use std::fmt;
use std::time::Duration;

use serde::de::{self, Deserializer, Visitor};

/// Parses a duration as written in a configuration: a humantime string or
/// a bare number of seconds. The error says what is accepted.
pub fn parse(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    if t.starts_with(|c: char| c.is_ascii_digit() || c == '.') {
        if let Ok(n) = t.parse::<f64>() {
            return seconds(n);
        }
    }
    humantime::parse_duration(t).map_err(|e| {
        format!(
            "{text:?} is not a duration ({e}): write e.g. \"500ms\", \"30s\", \"15m\", \
             \"1h 30m\", or a number of seconds"
        )
    })
}

/// A bare number of seconds.
fn seconds(n: f64) -> Result<Duration, String> {
    Duration::try_from_secs_f64(n)
        .map_err(|_| format!("{n} is not a duration: seconds must be a finite number >= 0"))
}

/// Writes `d` as [`parse`] reads it (`"2s"`, `"1h 30m"`, `"500ms"`).
pub fn format(d: Duration) -> String {
    humantime::format_duration(d).to_string()
}

/// Serde `deserialize_with` for a `Duration` setting: see [`parse`].
pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    d.deserialize_any(DurationVisitor)
}

struct DurationVisitor;

impl Visitor<'_> for DurationVisitor {
    type Value = Duration;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a duration such as \"500ms\", \"15m\" or \"1h 30m\", or a number of seconds")
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Duration, E> {
        Ok(Duration::from_secs(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Duration, E> {
        u64::try_from(v)
            .map(Duration::from_secs)
            .map_err(|_| E::custom(format!("{v} is not a duration: seconds must be >= 0")))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Duration, E> {
        seconds(v).map_err(E::custom)
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Duration, E> {
        parse(v).map_err(E::custom)
    }
}

/// The unit a deprecated key's integer was in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Millis,
    Secs,
}

/// A deprecated `*_ms` / `*_secs` key and the key that replaces it, both as
/// dotted paths (`server.shutdown_timeout_secs`, `server.shutdown_timeout`).
#[derive(Debug, Clone, Copy)]
pub struct Renamed {
    pub old: &'static str,
    pub new: &'static str,
    pub unit: Unit,
}

impl Renamed {
    /// The key names within their section (the part after the last dot).
    pub fn leaf_names(&self) -> (&'static str, &'static str) {
        let leaf = |k: &'static str| k.rsplit('.').next().unwrap_or(k);
        (leaf(self.old), leaf(self.new))
    }

    /// The section (the part before the last dot; empty at the top level).
    pub fn section(&self) -> &'static str {
        self.new.rsplit_once('.').map_or("", |(s, _)| s)
    }

    /// The old key's value, a non-negative integer in its unit, given as
    /// that integer or as its text (from the environment).
    pub fn convert(&self, value: Option<i64>, text: Option<&str>) -> Result<Duration, String> {
        let n = match (value, text) {
            (Some(n), _) => u64::try_from(n).ok(),
            (None, Some(t)) => t.trim().parse::<u64>().ok(),
            (None, None) => None,
        };
        let n = n.ok_or_else(|| {
            format!(
                "{}: must be a whole number of {} (or use {} = \"...\")",
                self.old,
                match self.unit {
                    Unit::Millis => "milliseconds",
                    Unit::Secs => "seconds",
                },
                self.new
            )
        })?;
        Ok(match self.unit {
            Unit::Millis => Duration::from_millis(n),
            Unit::Secs => Duration::from_secs(n),
        })
    }

    /// The one warning line for a file (or environment) that uses the old
    /// key with value `d`.
    pub fn warning(&self, d: Duration) -> String {
        format!(
            "configuration key {} is deprecated: write {} = \"{}\" instead",
            self.old,
            self.new,
            format(d)
        )
    }

    /// The error when both keys are set.
    pub fn both_set(&self) -> String {
        format!(
            "{} and its deprecated form {} are both set: keep only {}",
            self.new, self.old, self.new
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn humantime_strings_and_bare_seconds() {
        let ms = Duration::from_millis;
        let s = Duration::from_secs;
        for (text, want) in [
            ("500ms", ms(500)),
            ("2s", s(2)),
            ("15m", s(900)),
            ("1h 30m", s(5400)),
            ("1h30m", s(5400)),
            ("7days", s(7 * 86_400)),
            (" 20s ", s(20)),
            ("0s", s(0)),
            ("30", s(30)),
            ("0.25", ms(250)),
            ("2.5", ms(2500)),
        ] {
            assert_eq!(parse(text), Ok(want), "{text}");
        }
    }

    #[test]
    fn format_round_trips_through_parse() {
        for d in [
            Duration::ZERO,
            Duration::from_millis(1500),
            Duration::from_secs(604_800),
            Duration::from_secs(1_000_000_007),
            Duration::from_millis(123_456_789_012),
        ] {
            assert_eq!(parse(&format(d)), Ok(d), "{}", format(d));
        }
    }

    #[test]
    fn garbage_is_refused_with_what_is_accepted() {
        for bad in [
            "",
            "fast",
            "10 parsecs",
            "-5",
            "-1s",
            "5 s 3",
            "1e400",
            "NaN",
            "s",
        ] {
            let e = parse(bad).unwrap_err();
            assert!(e.contains("not a duration"), "{bad}: {e}");
        }
        let e = parse("fast").unwrap_err();
        assert!(e.contains("\"500ms\""), "{e}");
    }

    #[derive(serde::Deserialize)]
    struct T {
        #[serde(deserialize_with = "deserialize")]
        d: Duration,
    }

    #[test]
    fn deserializes_strings_integers_and_floats() {
        let d = |text: &str| {
            serde_json::from_str::<T>(text)
                .map(|t| t.d)
                .map_err(|e| e.to_string())
        };
        assert_eq!(d(r#"{"d":"1h 30m"}"#), Ok(Duration::from_secs(5400)));
        assert_eq!(d(r#"{"d":900}"#), Ok(Duration::from_secs(900)));
        assert_eq!(d(r#"{"d":0.5}"#), Ok(Duration::from_millis(500)));
        assert_eq!(d(r#"{"d":"0123"}"#), Ok(Duration::from_secs(123)));
        assert!(d(r#"{"d":-3}"#).unwrap_err().contains(">= 0"));
        assert!(d(r#"{"d":true}"#)
            .unwrap_err()
            .contains("a duration such as"));
        assert!(d(r#"{"d":"soon"}"#).unwrap_err().contains("not a duration"));
    }

    #[test]
    fn renamed_keys_convert_in_their_old_unit() {
        let r = Renamed {
            old: "limits.body_idle_timeout_ms",
            new: "limits.body_idle_timeout",
            unit: Unit::Millis,
        };
        assert_eq!(r.section(), "limits");
        assert_eq!(
            r.leaf_names(),
            ("body_idle_timeout_ms", "body_idle_timeout")
        );
        assert_eq!(r.convert(Some(1500), None), Ok(Duration::from_millis(1500)));
        assert_eq!(r.convert(None, Some("20000")), Ok(Duration::from_secs(20)));
        let e = r.convert(None, Some("20s")).unwrap_err();
        assert!(
            e.contains("limits.body_idle_timeout_ms") && e.contains("milliseconds"),
            "{e}"
        );
        assert!(r.convert(Some(-1), None).is_err());
        let w = r.warning(Duration::from_millis(1500));
        assert_eq!(
            w,
            "configuration key limits.body_idle_timeout_ms is deprecated: \
             write limits.body_idle_timeout = \"1s 500ms\" instead"
        );
        assert_eq!(parse("1s 500ms"), Ok(Duration::from_millis(1500)));
        let s = Renamed {
            old: "server.shutdown_timeout_secs",
            new: "server.shutdown_timeout",
            unit: Unit::Secs,
        };
        assert_eq!(s.convert(Some(30), None), Ok(Duration::from_secs(30)));
        assert!(s.both_set().contains("server.shutdown_timeout_secs"));
    }
}
