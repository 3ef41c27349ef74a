//! The detection `condition` language: search identifiers, `and`/`or`/`not`, brackets and
//! `1 of`/`all of` over identifier patterns or `them`.

use std::fmt;

/// How many of the searches an `of` expression needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Quantifier {
    /// `all of`.
    All,
    /// `N of` (`1 of` is the common case; `any of` is read as `1 of`).
    AtLeast(usize),
}

/// What an `of` expression ranges over.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OfTarget {
    /// `them`: every search identifier not starting with `_`.
    Them,
    /// An identifier pattern with `*` wildcards.
    Pattern(String),
}

/// A parsed condition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Condition {
    Search(String),
    Not(Box<Condition>),
    And(Vec<Condition>),
    Or(Vec<Condition>),
    Of {
        quantifier: Quantifier,
        target: OfTarget,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Ident(String),
    Number(usize),
    And,
    Or,
    Not,
    Of,
    All,
    Them,
    Open,
    Close,
}

impl fmt::Display for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Token::Ident(name) => write!(f, "identifier {name:?}"),
            Token::Number(n) => write!(f, "number {n}"),
            Token::And => f.write_str("'and'"),
            Token::Or => f.write_str("'or'"),
            Token::Not => f.write_str("'not'"),
            Token::Of => f.write_str("'of'"),
            Token::All => f.write_str("'all'"),
            Token::Them => f.write_str("'them'"),
            Token::Open => f.write_str("'('"),
            Token::Close => f.write_str("')'"),
        }
    }
}

fn tokenize(text: &str) -> Result<Vec<Token>, String> {
    let mut tokens = Vec::new();
    let mut chars = text.char_indices().peekable();
    while let Some(&(start, c)) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
            continue;
        }
        match c {
            '(' => {
                chars.next();
                tokens.push(Token::Open);
            }
            ')' => {
                chars.next();
                tokens.push(Token::Close);
            }
            c if c.is_alphanumeric() || c == '_' || c == '*' || c == '-' || c == '.' => {
                let mut end = start;
                while let Some(&(index, c)) = chars.peek() {
                    if c.is_alphanumeric() || c == '_' || c == '*' || c == '-' || c == '.' {
                        end = index + c.len_utf8();
                        chars.next();
                    } else {
                        break;
                    }
                }
                let word = &text[start..end];
                tokens.push(match word.to_ascii_lowercase().as_str() {
                    "and" => Token::And,
                    "or" => Token::Or,
                    "not" => Token::Not,
                    "of" => Token::Of,
                    "all" => Token::All,
                    "any" => Token::Number(1),
                    "them" => Token::Them,
                    _ if word.bytes().all(|b| b.is_ascii_digit()) => Token::Number(
                        word.parse()
                            .map_err(|_| format!("number too large: {word}"))?,
                    ),
                    _ => Token::Ident(word.to_string()),
                });
            }
            other => return Err(format!("unexpected character {other:?} at offset {start}")),
        }
    }
    Ok(tokens)
}

/// Parses one condition string.
pub fn parse_condition(text: &str) -> Result<Condition, String> {
    if text.contains('|') {
        return Err(
            "aggregation expressions after '|' (count(), near) are obsolete in Sigma; \
             express them as a correlation rule"
                .to_string(),
        );
    }
    let tokens = tokenize(text)?;
    let mut parser = Parser {
        tokens,
        position: 0,
    };
    let condition = parser.or()?;
    if let Some(token) = parser.peek() {
        return Err(format!("unexpected {token} after the end of the condition"));
    }
    Ok(condition)
}

struct Parser {
    tokens: Vec<Token>,
    position: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.position)
    }

    fn next(&mut self) -> Option<Token> {
        let token = self.tokens.get(self.position).cloned();
        self.position += 1;
        token
    }

    fn or(&mut self) -> Result<Condition, String> {
        let mut items = vec![self.and()?];
        while self.peek() == Some(&Token::Or) {
            self.next();
            items.push(self.and()?);
        }
        Ok(if items.len() == 1 {
            items.pop().expect("one item")
        } else {
            Condition::Or(items)
        })
    }

    fn and(&mut self) -> Result<Condition, String> {
        let mut items = vec![self.not()?];
        while self.peek() == Some(&Token::And) {
            self.next();
            items.push(self.not()?);
        }
        Ok(if items.len() == 1 {
            items.pop().expect("one item")
        } else {
            Condition::And(items)
        })
    }

    fn not(&mut self) -> Result<Condition, String> {
        if self.peek() == Some(&Token::Not) {
            self.next();
            return Ok(Condition::Not(Box::new(self.not()?)));
        }
        self.primary()
    }

    fn primary(&mut self) -> Result<Condition, String> {
        match self.next() {
            Some(Token::Open) => {
                let inner = self.or()?;
                match self.next() {
                    Some(Token::Close) => Ok(inner),
                    Some(other) => Err(format!("expected ')' but found {other}")),
                    None => Err("missing ')' at the end of the condition".to_string()),
                }
            }
            Some(Token::All) => self.of(Quantifier::All),
            Some(Token::Number(0)) => Err("'0 of' can never match".to_string()),
            Some(Token::Number(n)) => self.of(Quantifier::AtLeast(n)),
            Some(Token::Ident(name)) => Ok(Condition::Search(name)),
            Some(other) => Err(format!("expected a search identifier but found {other}")),
            None => Err("the condition ends where a search identifier was expected".to_string()),
        }
    }

    fn of(&mut self, quantifier: Quantifier) -> Result<Condition, String> {
        match self.next() {
            Some(Token::Of) => {}
            Some(other) => return Err(format!("expected 'of' but found {other}")),
            None => return Err("expected 'of' at the end of the condition".to_string()),
        }
        let target = match self.next() {
            Some(Token::Them) => OfTarget::Them,
            Some(Token::Ident(pattern)) => OfTarget::Pattern(pattern),
            Some(other) => return Err(format!("expected a pattern or 'them' but found {other}")),
            None => return Err("expected a pattern or 'them' after 'of'".to_string()),
        };
        Ok(Condition::Of { quantifier, target })
    }
}

/// Whether a search identifier matches an `of` pattern (`*` matches any run of characters).
pub fn identifier_matches(pattern: &str, name: &str) -> bool {
    fn go(pattern: &[u8], name: &[u8]) -> bool {
        match pattern.split_first() {
            None => name.is_empty(),
            Some((b'*', rest)) => (0..=name.len()).any(|skip| go(rest, &name[skip..])),
            Some((&c, rest)) => name.first() == Some(&c) && go(rest, &name[1..]),
        }
    }
    go(pattern.as_bytes(), name.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn search(name: &str) -> Condition {
        Condition::Search(name.to_string())
    }

    fn check(input: &str, expected: Condition) {
        assert_eq!(
            parse_condition(input).unwrap(),
            expected,
            "condition {input:?}"
        );
    }

    #[test]
    fn precedence_not_binds_tighter_than_and_than_or() {
        check(
            "a or b and not c",
            Condition::Or(vec![
                search("a"),
                Condition::And(vec![search("b"), Condition::Not(Box::new(search("c")))]),
            ]),
        );
        check(
            "(a or b) and c",
            Condition::And(vec![
                Condition::Or(vec![search("a"), search("b")]),
                search("c"),
            ]),
        );
        check(
            "not not a",
            Condition::Not(Box::new(Condition::Not(Box::new(search("a"))))),
        );
    }

    #[test]
    fn of_expressions() {
        check(
            "1 of selection_* and not all of filter_*",
            Condition::And(vec![
                Condition::Of {
                    quantifier: Quantifier::AtLeast(1),
                    target: OfTarget::Pattern("selection_*".into()),
                },
                Condition::Not(Box::new(Condition::Of {
                    quantifier: Quantifier::All,
                    target: OfTarget::Pattern("filter_*".into()),
                })),
            ]),
        );
        check(
            "all of them",
            Condition::Of {
                quantifier: Quantifier::All,
                target: OfTarget::Them,
            },
        );
        check(
            "ANY OF sel*",
            Condition::Of {
                quantifier: Quantifier::AtLeast(1),
                target: OfTarget::Pattern("sel*".into()),
            },
        );
    }

    #[test]
    fn errors_say_what_is_wrong() {
        for (input, expected) in [
            ("selection | count() > 5", "correlation"),
            ("(a and b", "missing ')'"),
            ("a and", "ends where"),
            ("a b", "unexpected identifier"),
            ("1 of", "pattern or 'them'"),
            ("a $ b", "unexpected character"),
        ] {
            let error = parse_condition(input).unwrap_err();
            assert!(error.contains(expected), "{input:?}: {error}");
        }
    }

    #[test]
    fn identifier_patterns() {
        assert!(identifier_matches("selection_*", "selection_img"));
        assert!(identifier_matches("*", "x"));
        assert!(identifier_matches("sel*img", "sel_cmd_img"));
        assert!(!identifier_matches("filter_*", "selection"));
        assert!(!identifier_matches("sel", "selection"));
    }
}
