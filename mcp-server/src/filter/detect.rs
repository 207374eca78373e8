//! The built-in detectors: a pattern on the linear-time [`regex`] engine, the part of a match
//! that is the secret, and for some a check of the match (Luhn, digit counts) that keeps
//! look-alikes out.

use serde::{Deserialize, Serialize};

/// A built-in detector of secrets or personal data.
///
/// Each finds its kind in free text (text content, embedded and read resources, prompt
/// messages, and every string of structured content); the secrets that come as a value under a
/// telling name (`"password": "..."`, `"aws_secret_access_key": "..."`) are also found by the
/// member's name in structured content.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Detector {
    /// An AWS access key id (`AKIA…`, `ASIA…`: 20 characters).
    AwsAccessKeyId,
    /// An AWS secret access key: 40 base64 characters named as one
    /// (`aws_secret_access_key = …`, `"SecretAccessKey": "…"`).
    AwsSecretAccessKey,
    /// A Google Cloud API key (`AIza…`, 39 characters) or OAuth client secret (`GOCSPX-…`).
    GcpApiKey,
    /// A PEM private key block (RSA, EC, OpenSSH, PKCS#8, encrypted), to its `END` line or, cut
    /// off, to the end of the text.
    PrivateKey,
    /// A JSON Web Token (three base64url parts, the first two JSON objects).
    Jwt,
    /// A bearer token (`Bearer <token>`, as in an `Authorization` header).
    BearerToken,
    /// The value of a `password=`/`secret=` assignment (`DB_PASSWORD=…`, `client_secret: …`,
    /// `"password": "…"`); placeholders (`$VAR`, `${VAR}`, `<...>`, `****`) are left alone.
    PasswordAssignment,
    /// The password of a connection string (`postgres://user:password@host/db`).
    ConnectionString,
    /// An email address.
    Email,
    /// A phone number: international (`+44 20 7946 0958`) or North American
    /// (`(415) 555-2671`, `415-555-2671`).
    Phone,
    /// A payment card number (13 to 19 digits, spaces or dashes allowed) with a card network's
    /// prefix and a valid Luhn check digit.
    PaymentCard,
}

impl Detector {
    /// Every built-in detector, secrets first.
    pub const ALL: &'static [Detector] = &[
        Detector::PrivateKey,
        Detector::AwsAccessKeyId,
        Detector::AwsSecretAccessKey,
        Detector::GcpApiKey,
        Detector::Jwt,
        Detector::BearerToken,
        Detector::ConnectionString,
        Detector::PasswordAssignment,
        Detector::PaymentCard,
        Detector::Email,
        Detector::Phone,
    ];

    /// The detectors of secrets (keys, tokens, passwords).
    pub const SECRETS: &'static [Detector] = &[
        Detector::PrivateKey,
        Detector::AwsAccessKeyId,
        Detector::AwsSecretAccessKey,
        Detector::GcpApiKey,
        Detector::Jwt,
        Detector::BearerToken,
        Detector::ConnectionString,
        Detector::PasswordAssignment,
    ];

    /// The detectors of personal data.
    pub const PERSONAL: &'static [Detector] =
        &[Detector::PaymentCard, Detector::Email, Detector::Phone];

    /// Its name, as in configuration (`aws_access_key_id`).
    pub fn name(self) -> &'static str {
        match self {
            Detector::AwsAccessKeyId => "aws_access_key_id",
            Detector::AwsSecretAccessKey => "aws_secret_access_key",
            Detector::GcpApiKey => "gcp_api_key",
            Detector::PrivateKey => "private_key",
            Detector::Jwt => "jwt",
            Detector::BearerToken => "bearer_token",
            Detector::PasswordAssignment => "password_assignment",
            Detector::ConnectionString => "connection_string",
            Detector::Email => "email",
            Detector::Phone => "phone",
            Detector::PaymentCard => "payment_card",
        }
    }

    /// The pattern in text. Its group `s`, when it has one, is the part to redact.
    pub(crate) fn pattern(self) -> &'static str {
        match self {
            Detector::AwsAccessKeyId => r"\b(?:AKIA|ASIA|ABIA|ACCA|AIDA|AROA)[0-9A-Z]{16}\b",
            Detector::AwsSecretAccessKey => {
                r#"(?i)aws_?secret_?access_?key["']?\s*[:=]\s*["']?(?P<s>[A-Za-z0-9/+]{40})(?:[^A-Za-z0-9/+=]|$)"#
            }
            Detector::GcpApiKey => {
                r"(?:^|[^0-9A-Za-z_-])(?P<s>AIza[0-9A-Za-z_-]{35}|GOCSPX-[0-9A-Za-z_-]{28})(?:[^0-9A-Za-z_-]|$)"
            }
            Detector::PrivateKey => {
                r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY-----(?s:.*?)(?:-----END (?:[A-Z0-9]+ )*PRIVATE KEY-----|\z)"
            }
            Detector::Jwt => r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*",
            Detector::BearerToken => r"(?i)\bbearer\s+(?P<s>[A-Za-z0-9._~+/-]{20,}=*)",
            Detector::PasswordAssignment => {
                r#"(?i)(?:^|[^a-z0-9])(?:[a-z0-9]+[_.-])*(?:password|passwd|passphrase|secret)(?:[_-][a-z0-9]+)*["']?\s*[:=]\s*["']?(?P<s>[^\s"',;&$*<>{}\[\]][^\s"',;&]*)"#
            }
            Detector::ConnectionString => {
                r"(?i)\b[a-z][a-z0-9+.-]*://[^\s:/@]+:(?P<s>[^\s@/]+)@[^\s/]+"
            }
            Detector::Email => {
                r"\b[A-Za-z0-9._%+-]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*\.[A-Za-z]{2,}\b"
            }
            Detector::Phone => {
                r"(?:^|[^\w+])(?P<s>\+[1-9]\d{0,2}(?:[ .-]?\(?\d{1,4}\)?){2,5}|(?:\(\d{3}\) ?|\b\d{3}[ .-])\d{3}[ .-]\d{4})\b"
            }
            Detector::PaymentCard => r"\b(?:\d[ -]?){12,18}\d\b",
        }
    }

    /// The pattern of a structured member's name whose string value is this secret.
    pub(crate) fn key_pattern(self) -> Option<&'static str> {
        match self {
            Detector::AwsSecretAccessKey => Some(r"(?i)^(?:aws_?)?secret_?access_?key$"),
            Detector::PasswordAssignment => Some(
                r"(?i)^(?:[a-z0-9]+[_.-])*(?:password|passwd|passphrase|secret)(?:[_-][a-z0-9]+)*$",
            ),
            Detector::PrivateKey => Some(r"(?i)^private_?key$"),
            _ => None,
        }
    }

    /// Whether a match of the pattern (the redacted part) really is one.
    pub(crate) fn accepts(self, found: &str) -> bool {
        match self {
            Detector::PaymentCard => payment_card(found),
            Detector::Phone => {
                let digits = found.bytes().filter(u8::is_ascii_digit).count();
                (10..=15).contains(&digits)
            }
            _ => true,
        }
    }
}

/// A card number: 13 to 19 digits, a network's prefix, a valid Luhn check digit.
fn payment_card(found: &str) -> bool {
    let digits: Vec<u8> = found
        .bytes()
        .filter(u8::is_ascii_digit)
        .map(|b| b - b'0')
        .collect();
    if !(13..=19).contains(&digits.len()) {
        return false;
    }
    let prefix = |n: usize| digits[..n].iter().fold(0u32, |a, d| a * 10 + u32::from(*d));
    let network = match digits[0] {
        4 => true,                                                                     // Visa
        5 => (51..=55).contains(&prefix(2)),                                           // Mastercard
        2 => (2221..=2720).contains(&prefix(4)),                                       // Mastercard
        3 => (34..=38).contains(&prefix(2)) || (300..=305).contains(&prefix(3)), // Amex, JCB, Diners
        6 => prefix(4) == 6011 || prefix(2) == 65 || (644..=649).contains(&prefix(3)), // Discover
        _ => false,
    };
    network && luhn(&digits)
}

/// The Luhn checksum of `digits` (the last one the check digit) is valid.
pub(crate) fn luhn(digits: &[u8]) -> bool {
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &d)| {
            let d = u32::from(d);
            if i % 2 == 1 {
                let d = d * 2;
                if d > 9 { d - 9 } else { d }
            } else {
                d
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn luhn_accepts_test_cards_and_refuses_a_changed_digit() {
        let digits = |s: &str| -> Vec<u8> { s.bytes().map(|b| b - b'0').collect() };
        assert!(luhn(&digits("4111111111111111")));
        assert!(luhn(&digits("79927398713")));
        assert!(!luhn(&digits("4111111111111112")));
        assert!(payment_card("3782 822463 10005"));
        assert!(!payment_card("1234 5678 9012 3456"));
    }

    #[test]
    fn every_pattern_compiles() {
        for d in Detector::ALL {
            regex::Regex::new(d.pattern()).unwrap_or_else(|e| panic!("{}: {e}", d.name()));
            if let Some(k) = d.key_pattern() {
                regex::Regex::new(k).unwrap_or_else(|e| panic!("{}: {e}", d.name()));
            }
        }
    }
}
