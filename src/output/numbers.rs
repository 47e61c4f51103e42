//! rsync's number formats: thousands separators, and `-h` units.

/// `1234567` → `1,234,567`.
pub fn comma_number(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

/// A number as rsync prints it at human-readable level `level`: 1 (the default) uses
/// thousands separators, 2 (`-h`) 1000-based K/M/G suffixes, 3 (`-hh`) 1024-based ones.
pub fn human_number(n: u64, level: u32) -> String {
    if level < 2 {
        return comma_number(n);
    }
    let base = if level == 2 { 1000.0 } else { 1024.0 };
    let mut value = n as f64;
    let mut unit = None;
    for u in ['K', 'M', 'G', 'T', 'P'] {
        if value < base {
            break;
        }
        value /= base;
        unit = Some(u);
    }
    match unit {
        Some(u) => format!("{value:.2}{u}"),
        None => n.to_string(),
    }
}

/// A float with two decimals and thousands separators in the integer part.
pub fn comma_float(x: f64) -> String {
    let x = if x.is_finite() && x >= 0.0 { x } else { 0.0 };
    let whole = x.trunc() as u64;
    let frac = ((x - x.trunc()) * 100.0).round() as u64;
    let (whole, frac) = if frac >= 100 {
        (whole + 1, 0)
    } else {
        (whole, frac)
    };
    format!("{}.{frac:02}", comma_number(whole))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commas() {
        assert_eq!(comma_number(0), "0");
        assert_eq!(comma_number(999), "999");
        assert_eq!(comma_number(1000), "1,000");
        assert_eq!(comma_number(1234567), "1,234,567");
        assert_eq!(comma_float(1694.0), "1,694.00");
    }
}
