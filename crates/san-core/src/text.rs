//! Text normalisation shared by duplicate detection and word-level mining.

/// Normalises a sentence: lower-case, punctuation removed, whitespace collapsed.
///
/// ```
/// assert_eq!(san_core::text::normalize("  Morgen REGEN, im Norden. "), "morgen regen im norden");
/// ```
pub fn normalize(sentence: &str) -> String {
    sentence
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || c.is_whitespace() || c == '-' {
                c
            } else {
                ' '
            }
        })
        .collect::<String>()
        .to_lowercase()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// The words of a normalised sentence.
pub fn words(sentence: &str) -> Vec<String> {
    normalize(sentence)
        .split(' ')
        .filter(|w| !w.is_empty())
        .map(String::from)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_of_a_phoenix_sentence() {
        assert_eq!(
            words("am tag wechselhaft , im norden regen ."),
            vec!["am", "tag", "wechselhaft", "im", "norden", "regen"]
        );
        assert!(words(" . ").is_empty());
    }
}
