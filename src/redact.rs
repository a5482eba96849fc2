//! The one place URLs are made safe to print: every URL that reaches a message (store URLs,
//! `--bigcommerce-base-url`, `status --url`) goes through [`redact_url`], whether it parses or not.

/// Query parameters whose values are secrets: a name containing one of these, ignoring case.
const SECRET_PARAMS: &[&str] = &[
    "password", "passwd", "pwd", "secret", "token", "key", "auth",
];

/// `url` with the password of its userinfo and every secret-looking query parameter replaced by
/// `****`. Text, not a parser: a malformed URL (a `#` or `/` in the password, a bad port, an
/// unclosed `[`) is redacted as well as a valid one. When in doubt it hides more, never less.
pub fn redact_url(url: &str) -> String {
    let mut out = String::with_capacity(url.len());
    let rest = match url.find("://") {
        Some(i) => {
            let (scheme, after) = url.split_at(i + 3);
            out.push_str(scheme);
            // The userinfo ends at the last `@`: a password may hold `/`, `?`, `#` or `@`.
            match after.rfind('@') {
                Some(at) => {
                    let (userinfo, host_and_rest) = after.split_at(at);
                    match userinfo.split_once(':') {
                        Some((user, _)) => {
                            out.push_str(user);
                            out.push_str(":****");
                        }
                        None => out.push_str(userinfo),
                    }
                    host_and_rest
                }
                None => after,
            }
        }
        None => url,
    };
    out.push_str(&redact_query(rest));
    out
}

/// Masks the values of secret-looking `name=value` pairs after `?` or `&`.
fn redact_query(text: &str) -> String {
    let Some(q) = text.find('?') else {
        return text.to_string();
    };
    let (head, query) = text.split_at(q + 1);
    let mut out = head.to_string();
    let (query, fragment) = match query.find('#') {
        Some(h) => query.split_at(h),
        None => (query, ""),
    };
    let pairs: Vec<String> = query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((name, _)) if is_secret_param(name) => format!("{name}=****"),
            _ => pair.to_string(),
        })
        .collect();
    out.push_str(&pairs.join("&"));
    out.push_str(fragment);
    out
}

fn is_secret_param(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    SECRET_PARAMS.iter().any(|p| name.contains(p))
}

/// URLs with a password, valid or not, and the password each carries: what the redaction tests
/// (here and in `tests/redaction.rs`) feed every command.
#[doc(hidden)]
pub const TEST_CORPUS: &[(&str, &str)] = &[
    (
        "postgres://postgres:Hun#ter2PW@127.0.0.1:5999/test",
        "Hun#ter2PW",
    ),
    ("postgres://u:S3cretPW@127.0.0.1:99999/db", "S3cretPW"),
    ("postgres://u:S3cretPW@[::1/db", "S3cretPW"),
    ("postgresql://u:pw1PW@/db?host=/run/postgresql", "pw1PW"),
    ("mysql://root:my/pa?ss@127.0.0.1:3306/unopim", "my/pa?ss"),
    ("mysql://root:p@ss@w0rdPW@127.0.0.1/unopim", "p@ss@w0rdPW"),
    (
        "mysql://root@127.0.0.1/unopim?password=QueryPW1",
        "QueryPW1",
    ),
    (
        "postgres://127.0.0.1:5999/db?sslmode=require&sslpassword=SslPW2",
        "SslPW2",
    ),
    (
        "postgres://127.0.0.1:5999/db?PASSWORD=UpperPW3&x=1",
        "UpperPW3",
    ),
    (
        "postgres://127.0.0.1:5999/db?auth_token=TokPW4#frag",
        "TokPW4",
    ),
    ("https://user:BasePW5@127.0.0.1:9/", "BasePW5"),
    ("http://user:LoopPW6@127.0.0.1:8080/x?y=1", "LoopPW6"),
    ("mysql://root:Spa ce PW7@127.0.0.1/db", "Spa ce PW7"),
    ("mariadb://root:%40EncPW8@127.0.0.1/db", "%40EncPW8"),
    ("postgres://u:ColonPW9:more@127.0.0.1/db", "ColonPW9:more"),
    (
        "sqlite:///nonexistent-bccreds-dir/s.db?key=SqliteKey10",
        "SqliteKey10",
    ),
    (
        "postgres://u:Unicode\u{e9}PW11@127.0.0.1:5999/db",
        "Unicode\u{e9}PW11",
    ),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_password_of_the_corpus_survives() {
        for (url, password) in TEST_CORPUS {
            let shown = redact_url(url);
            assert!(!shown.contains(password), "{url} -> {shown}");
            assert!(shown.contains("****"), "{url} -> {shown}");
        }
    }

    #[test]
    fn what_is_not_secret_stays_readable() {
        assert_eq!(
            redact_url("postgres://postgres:pw@127.0.0.1:5432/test?sslmode=require"),
            "postgres://postgres:****@127.0.0.1:5432/test?sslmode=require"
        );
        assert_eq!(
            redact_url("mysql://root@127.0.0.1:3306/test"),
            "mysql://root@127.0.0.1:3306/test"
        );
        assert_eq!(redact_url("sqlite://bccreds.db"), "sqlite://bccreds.db");
        assert_eq!(redact_url("not a url"), "not a url");
    }
}

/// `text` safe to print to a terminal or a log line: control characters (ESC, BEL, CR, LF, NUL,
/// C1) and bidirectional overrides become visible escapes (`\e`, `\a`, `\r`, `\n`, `\0`,
/// `\u{202e}`), so that a label, a file name or a store name from outside cannot clear the
/// screen, plant a link or forge a line. JSON output escapes them by construction.
pub fn escape_controls(text: &str) -> std::borrow::Cow<'_, str> {
    let unsafe_char = |c: char| {
        c.is_control()
            || matches!(c, '\u{200e}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
    };
    if !text.chars().any(unsafe_char) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\u{1b}' => out.push_str("\\e"),
            '\u{7}' => out.push_str("\\a"),
            '\r' => out.push_str("\\r"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\0' => out.push_str("\\0"),
            c if unsafe_char(c) => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => out.push(c),
        }
    }
    std::borrow::Cow::Owned(out)
}

#[cfg(test)]
mod escape_tests {
    use super::escape_controls;

    #[test]
    fn control_characters_become_visible_escapes() {
        assert_eq!(escape_controls("Plain Shop é"), "Plain Shop é");
        assert_eq!(
            escape_controls("Evil \u{1b}[2J\u{7}\nFAKE: 0 failed\r\0"),
            "Evil \\e[2J\\a\\nFAKE: 0 failed\\r\\0"
        );
        assert_eq!(
            escape_controls("\u{1b}]8;;http://x\u{7}link\u{1b}]8;;\u{7}"),
            "\\e]8;;http://x\\alink\\e]8;;\\a"
        );
        assert_eq!(escape_controls("a\u{202e}b\u{9b}c"), "a\\u{202e}b\\u{9b}c");
    }
}
