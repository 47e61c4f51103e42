//! OpenSSH's `%` tokens (`percent_expand`): `%%` is a percent sign and `%x` the value given
//! for `x`; any other token is an error, as in OpenSSH.

use crate::error::SshError;

/// Expands the `%` tokens of `text` with `values` (token letter, value); `what` names the
/// setting in the error for an unknown token.
pub fn percent_expand(text: &str, values: &[(char, &str)], what: &str) -> Result<String, SshError> {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('%') => out.push('%'),
            Some(t) => match values.iter().find(|(k, _)| *k == t) {
                Some((_, v)) => out.push_str(v),
                None => {
                    return Err(SshError::Unsupported(format!("the token %{t} in {what}")));
                }
            },
            None => return Err(SshError::Config(format!("{what} ends with a lone %"))),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_expand_and_unknown_ones_are_refused() {
        let values = [('h', "host"), ('p', "22")];
        assert_eq!(
            percent_expand("nc %h %p 100%%", &values, "x").ok(),
            Some("nc host 22 100%".into())
        );
        assert!(matches!(
            percent_expand("%C", &values, "x"),
            Err(SshError::Unsupported(_))
        ));
        assert!(matches!(
            percent_expand("50%", &values, "x"),
            Err(SshError::Config(_))
        ));
    }
}
