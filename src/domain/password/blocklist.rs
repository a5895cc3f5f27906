//! The common-password blocklist (README.md beside this file says where it comes from).
//!
//! Compressed into the binary, inflated once into one sorted string plus the offset of each
//! line; a lookup is a binary search over those lines, so no per-entry allocation and
//! O(log n) comparisons.

use std::io::Read;
use std::sync::LazyLock;

use crate::error::{AppError, AppResult};

const COMPRESSED: &[u8] = include_bytes!("common-passwords.txt.gz");

/// The list keeps entries of NIST's absolute minimum length and up, so it stays complete if the
/// minimum ever drops below today's 15 (for accounts that must have 2FA, say).
const SHORTEST_ENTRY_CHARS: usize = 8;
const _: () = assert!(SHORTEST_ENTRY_CHARS <= super::MIN_PASSWORD_CHARS);

struct Blocklist {
    /// Every entry followed by `\n`, lowercased, sorted by bytes, no duplicates.
    text: String,
    /// Where each entry starts in `text`.
    starts: Vec<u32>,
}

impl Blocklist {
    fn inflate() -> Result<Self, String> {
        let mut text = String::new();
        flate2::read::GzDecoder::new(COMPRESSED)
            .read_to_string(&mut text)
            .map_err(|e| format!("the common-password list does not inflate: {e}"))?;
        let mut starts = Vec::with_capacity(500_000);
        let mut at = 0usize;
        for line in text.split_terminator('\n') {
            starts.push(u32::try_from(at).map_err(|_| "the list is over 4 GiB".to_owned())?);
            at += line.len() + 1;
        }
        Ok(Self { text, starts })
    }

    fn entry(&self, index: usize) -> &str {
        let start = self.starts[index] as usize;
        let end = self
            .starts
            .get(index + 1)
            .map_or(self.text.len(), |next| *next as usize);
        // Without the `\n` that ends every entry.
        &self.text[start..end - 1]
    }

    fn contains_lowercased(&self, candidate: &str) -> bool {
        let (mut low, mut high) = (0, self.starts.len());
        while low < high {
            let mid = low + (high - low) / 2;
            match self.entry(mid).cmp(candidate) {
                std::cmp::Ordering::Less => low = mid + 1,
                std::cmp::Ordering::Greater => high = mid,
                std::cmp::Ordering::Equal => return true,
            }
        }
        false
    }
}

static BLOCKLIST: LazyLock<Result<Blocklist, String>> = LazyLock::new(Blocklist::inflate);

fn blocklist() -> AppResult<&'static Blocklist> {
    BLOCKLIST
        .as_ref()
        .map_err(|err| AppError::internal(anyhow::anyhow!("{err}")))
}

/// Whether `password`, compared case-insensitively, is on the list.
pub fn contains(password: &str) -> AppResult<bool> {
    Ok(blocklist()?.contains_lowercased(&password.to_lowercase()))
}

/// Inflates the list now (at start-up), so the first password chosen does not wait for it.
pub fn warm_up() -> AppResult<()> {
    blocklist().map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_list_keeps_its_invariants() {
        let list = blocklist().expect("inflates");
        let count = list.starts.len();
        assert!(count > 100_000, "{count} entries");
        let mut previous: Option<&str> = None;
        for index in 0..count {
            let entry = list.entry(index);
            assert!(
                entry.chars().count() >= SHORTEST_ENTRY_CHARS,
                "{entry:?} is shorter than the list's floor"
            );
            assert_eq!(entry, entry.to_lowercase(), "not lowercase");
            if let Some(previous) = previous {
                assert!(
                    previous < entry,
                    "{previous:?} before {entry:?}: not sorted"
                );
            }
            previous = Some(entry);
        }
    }

    #[test]
    fn lookups_find_the_first_the_last_and_nothing_between() {
        let list = blocklist().expect("inflates");
        let first = list.entry(0).to_owned();
        let last = list.entry(list.starts.len() - 1).to_owned();
        assert!(contains(&first).expect("lookup"));
        assert!(contains(&last.to_uppercase()).expect("lookup"));
        assert!(!contains(&format!("{first}\u{0}")).expect("lookup"));
        assert!(!contains("").expect("lookup"));
        assert!(!contains("correct horse battery staple").expect("lookup"));
    }
}
