//! The WQL subset clients send through WS-Man: `SELECT * FROM Class`
//! (or a property list, which WinRM answers with whole instances anyway)
//! with an optional `WHERE` of `prop = 'v'` / `prop != 'v'` / `prop = 3`
//! terms joined by AND or OR (AND binds tighter).

use crate::provider::Instance;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Query {
    pub class: String,
    /// OR of ANDs of (property, equals?, value).
    pub filter: Vec<Vec<(String, bool, String)>>,
}

/// Tokenizes: identifiers, quoted strings, numbers, operators.
fn tokens(s: &str) -> Option<Vec<String>> {
    let mut out = Vec::new();
    let cs: Vec<char> = s.chars().collect();
    let mut i = 0;
    while i < cs.len() {
        let c = cs[i];
        if c.is_whitespace() || c == ',' {
            i += 1;
        } else if c == '\'' || c == '"' {
            let q = c;
            let mut t = String::from("'");
            i += 1;
            loop {
                let ch = *cs.get(i)?;
                i += 1;
                if ch == q {
                    if cs.get(i) == Some(&q) {
                        t.push(q);
                        i += 1;
                        continue;
                    }
                    break;
                }
                if ch == '\\' {
                    t.push(*cs.get(i)?);
                    i += 1;
                    continue;
                }
                t.push(ch);
            }
            out.push(t);
        } else if c == '=' {
            out.push("=".into());
            i += 1;
        } else if c == '!' || c == '<' {
            let two: String = cs.get(i..i + 2)?.iter().collect();
            if two == "!=" || two == "<>" {
                out.push("!=".into());
                i += 2;
            } else {
                return None;
            }
        } else if c == '*' || c == '(' || c == ')' {
            out.push(c.to_string());
            i += 1;
        } else if c.is_alphanumeric() || c == '_' || c == '.' || c == '-' {
            let start = i;
            while i < cs.len()
                && (cs[i].is_alphanumeric() || cs[i] == '_' || cs[i] == '.' || cs[i] == '-')
            {
                i += 1;
            }
            out.push(cs[start..i].iter().collect());
        } else {
            return None;
        }
        if out.len() > 256 {
            return None;
        }
    }
    Some(out)
}

pub fn parse(s: &str) -> Result<Query, String> {
    let t = tokens(s).ok_or("the WQL query has a syntax error")?;
    let kw = |i: usize, k: &str| t.get(i).is_some_and(|x| x.eq_ignore_ascii_case(k));
    if !kw(0, "select") {
        return Err("the WQL query must start with SELECT".into());
    }
    let from = (1..t.len())
        .find(|&i| kw(i, "from"))
        .ok_or("the WQL query has no FROM")?;
    let class = t
        .get(from + 1)
        .ok_or("the WQL query names no class")?
        .clone();
    let mut filter = vec![Vec::new()];
    let mut i = from + 2;
    if i < t.len() {
        if !kw(i, "where") {
            return Err(format!("unexpected '{}' in the WQL query", t[i]));
        }
        i += 1;
        loop {
            let (Some(p), Some(op), Some(v)) = (t.get(i), t.get(i + 1), t.get(i + 2)) else {
                return Err("incomplete WHERE clause".into());
            };
            let eq = match op.as_str() {
                "=" => true,
                "!=" => false,
                _ => return Err(format!("unsupported operator '{op}'")),
            };
            let v = v.strip_prefix('\'').unwrap_or(v).to_string();
            if let Some(last) = filter.last_mut() {
                last.push((p.clone(), eq, v));
            }
            i += 3;
            if i >= t.len() {
                break;
            }
            if kw(i, "and") {
                i += 1;
            } else if kw(i, "or") {
                filter.push(Vec::new());
                i += 1;
            } else {
                return Err(format!("unexpected '{}' in the WHERE clause", t[i]));
            }
        }
    }
    Ok(Query { class, filter })
}

impl Query {
    pub fn matches(&self, inst: &Instance) -> bool {
        self.filter.iter().any(|and| {
            and.iter().all(|(p, eq, v)| {
                let actual = inst.get(p).and_then(|x| x.text());
                let same = actual.is_some_and(|a| a.eq_ignore_ascii_case(v));
                same == *eq
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provider::Value;

    #[test]
    fn parses_and_matches() {
        let q = parse(
            "SELECT * FROM Msvm_ComputerSystem WHERE ElementName = 'web01' AND EnabledState != 3",
        )
        .unwrap();
        assert_eq!(q.class, "Msvm_ComputerSystem");
        let i = Instance::new("u", "Msvm_ComputerSystem", &[])
            .with("ElementName", Value::str("WEB01"))
            .with("EnabledState", Value::Int(2));
        assert!(q.matches(&i));
        let all = parse("select Name, State from Win32_Service").unwrap();
        assert!(all.matches(&i));
        let or = parse("SELECT * FROM X WHERE a = 'x' OR ElementName = \"web01\"").unwrap();
        assert!(or.matches(&i));
        assert!(parse("DELETE FROM X").is_err());
        assert!(parse("SELECT * FROM X WHERE a > 1").is_err());
        assert!(parse("SELECT * FROM X WHERE a = 'unterminated").is_err());
    }
}
