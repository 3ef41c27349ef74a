//! A YAML tree that keeps every scalar's original text, built from yaml-rust2's event stream.
//!
//! Sigma values must match log text exactly as written in the rule (`0x1410` is not 5136), so
//! scalars are kept as text with their quoting style; [`Node::scalar_value`] applies the few
//! YAML core-schema typings Sigma relies on (null, booleans, decimal numbers).

use crate::value::SigmaValue;
use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::{Marker, TScalarStyle};

/// A YAML node.
#[derive(Debug, Clone, PartialEq)]
pub enum Node {
    Map(Vec<(String, Node)>),
    Seq(Vec<Node>),
    Scalar { text: String, quoted: bool },
}

impl Node {
    pub fn get(&self, key: &str) -> Option<&Node> {
        match self {
            Node::Map(entries) => entries.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    /// The text of a scalar; `None` for maps, sequences and nulls.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Node::Scalar { text, quoted } if *quoted || !is_null(text) => Some(text),
            _ => None,
        }
    }

    #[cfg(test)]
    pub fn is_null(&self) -> bool {
        matches!(self, Node::Scalar { text, quoted: false } if is_null(text))
    }

    /// Scalars as a one-element list, sequences as their items.
    pub fn as_list(&self) -> Vec<&Node> {
        match self {
            Node::Seq(items) => items.iter().collect(),
            other => vec![other],
        }
    }

    /// The Sigma value of a scalar.
    pub fn scalar_value(&self) -> Option<SigmaValue> {
        let Node::Scalar { text, quoted } = self else {
            return None;
        };
        if *quoted {
            return Some(SigmaValue::string(text));
        }
        if is_null(text) {
            return Some(SigmaValue::Null);
        }
        match text.as_str() {
            "true" | "True" | "TRUE" => return Some(SigmaValue::Bool(true)),
            "false" | "False" | "FALSE" => return Some(SigmaValue::Bool(false)),
            _ => {}
        }
        let digits = text.strip_prefix(['-', '+']).unwrap_or(text);
        if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
            // Leading zeros would be lost as a number; keep such text as a string.
            if !(digits.len() > 1 && digits.starts_with('0'))
                && let Ok(value) = text.parse::<i64>()
            {
                return Some(SigmaValue::Integer(value));
            }
        }
        Some(SigmaValue::string(text))
    }
}

fn is_null(text: &str) -> bool {
    matches!(text, "" | "~" | "null" | "Null" | "NULL")
}

/// Parses every document of a YAML stream.
pub fn parse_documents(text: &str) -> Result<Vec<Node>, String> {
    let mut builder = Builder::default();
    Parser::new_from_str(text)
        .load(&mut builder, true)
        .map_err(|error| format!("invalid YAML: {error}"))?;
    if let Some(error) = builder.error {
        return Err(error);
    }
    Ok(builder.documents)
}

enum Frame {
    Map {
        entries: Vec<(String, Node)>,
        key: Option<String>,
        anchor: usize,
    },
    Seq {
        items: Vec<Node>,
        anchor: usize,
    },
}

#[derive(Default)]
struct Builder {
    documents: Vec<Node>,
    stack: Vec<Frame>,
    anchors: Vec<(usize, Node)>,
    error: Option<String>,
}

impl Builder {
    fn insert(&mut self, node: Node, marker: Marker) {
        match self.stack.last_mut() {
            None => self.documents.push(node),
            Some(Frame::Seq { items, .. }) => items.push(node),
            Some(Frame::Map { entries, key, .. }) => match key.take() {
                None => match node {
                    Node::Scalar { text, .. } => *key = Some(text),
                    _ => {
                        self.error.get_or_insert_with(|| {
                            format!(
                                "line {}: only scalar mapping keys are supported",
                                marker.line()
                            )
                        });
                        *key = Some(String::new());
                    }
                },
                Some(key) => {
                    if entries.iter().any(|(existing, _)| *existing == key) {
                        self.error.get_or_insert_with(|| {
                            format!("line {}: duplicate key {key:?}", marker.line())
                        });
                    }
                    entries.push((key, node));
                }
            },
        }
    }

    fn remember(&mut self, anchor: usize, node: &Node) {
        if anchor > 0 {
            self.anchors.push((anchor, node.clone()));
        }
    }
}

impl MarkedEventReceiver for Builder {
    fn on_event(&mut self, event: Event, marker: Marker) {
        match event {
            Event::Scalar(text, style, anchor, _tag) => {
                let node = Node::Scalar {
                    text,
                    quoted: style != TScalarStyle::Plain,
                };
                self.remember(anchor, &node);
                self.insert(node, marker);
            }
            Event::SequenceStart(anchor, _) => self.stack.push(Frame::Seq {
                items: Vec::new(),
                anchor,
            }),
            Event::MappingStart(anchor, _) => self.stack.push(Frame::Map {
                entries: Vec::new(),
                key: None,
                anchor,
            }),
            Event::SequenceEnd | Event::MappingEnd => {
                let (node, anchor) = match self.stack.pop() {
                    Some(Frame::Seq { items, anchor }) => (Node::Seq(items), anchor),
                    Some(Frame::Map {
                        entries, anchor, ..
                    }) => (Node::Map(entries), anchor),
                    None => return,
                };
                self.remember(anchor, &node);
                self.insert(node, marker);
            }
            Event::Alias(anchor) => {
                let node = self
                    .anchors
                    .iter()
                    .rev()
                    .find(|(id, _)| *id == anchor)
                    .map(|(_, node)| node.clone());
                match node {
                    Some(node) => self.insert(node, marker),
                    None => {
                        self.error.get_or_insert_with(|| {
                            format!("line {}: unknown alias", marker.line())
                        });
                    }
                }
            }
            Event::Nothing
            | Event::StreamStart
            | Event::StreamEnd
            | Event::DocumentStart
            | Event::DocumentEnd => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scalars_keep_their_text() {
        let docs = parse_documents(
            "a: 0x1410\nb: '12'\nc: 12\nd: null\ne: true\nf: 007\ng: ~\nh: [x, 'y']\n---\nz: 1\n",
        )
        .unwrap();
        assert_eq!(docs.len(), 2);
        let doc = &docs[0];
        assert_eq!(
            doc.get("a").unwrap().scalar_value(),
            Some(SigmaValue::string("0x1410"))
        );
        assert_eq!(
            doc.get("b").unwrap().scalar_value(),
            Some(SigmaValue::string("12"))
        );
        assert_eq!(
            doc.get("c").unwrap().scalar_value(),
            Some(SigmaValue::Integer(12))
        );
        assert_eq!(doc.get("d").unwrap().scalar_value(), Some(SigmaValue::Null));
        assert_eq!(
            doc.get("e").unwrap().scalar_value(),
            Some(SigmaValue::Bool(true))
        );
        assert_eq!(
            doc.get("f").unwrap().scalar_value(),
            Some(SigmaValue::string("007"))
        );
        assert!(doc.get("g").unwrap().is_null());
        assert_eq!(doc.get("h").unwrap().as_list().len(), 2);
        assert_eq!(docs[1].get("z").unwrap().as_str(), Some("1"));
    }

    #[test]
    fn duplicate_keys_and_bad_yaml_are_errors() {
        assert!(
            parse_documents("a: 1\na: 2\n")
                .unwrap_err()
                .contains("duplicate key")
        );
        assert!(
            parse_documents("a: [1, 2\n")
                .unwrap_err()
                .contains("invalid YAML")
        );
    }

    #[test]
    fn aliases_resolve() {
        let docs = parse_documents("base: &b [1, 2]\ncopy: *b\n").unwrap();
        assert_eq!(docs[0].get("copy"), docs[0].get("base"));
    }
}
