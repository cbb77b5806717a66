//! Redfish query parameters (DSP0266 "Query parameters"), sans-IO: the
//! query string is parsed into what the service implements — `$select`,
//! `$expand` (`*`, `.`, `~` with `$levels`) and `$top`/`$skip` on
//! collections — and applied to a resource's JSON after it is built.
//!
//! `ProtocolFeaturesSupported` in the service root advertises exactly
//! this set ([`features`]); every other `$` parameter, and `only`,
//! `excerpt` and `$filter` (defined by Redfish but not built), are refused
//! with 501 `QueryNotSupported` naming the parameter. Names Redfish does
//! not define are ignored, as the specification requires.

use serde_json::{json, Map, Value};

/// The deepest `$levels` served: each level multiplies the work by the
/// number of links, so a client cannot ask for the whole tree recursively.
pub const MAX_LEVELS: u32 = 3;
/// Longest query string read; a longer one is refused with 400.
pub const MAX_QUERY: usize = 2048;
/// Most `$select` paths in one request.
const MAX_SELECT: usize = 64;

/// Which hyperlinks `$expand` replaces by the resources they name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExpandKind {
    /// `*`: every hyperlink.
    All,
    /// `.`: hyperlinks outside `Links` (subordinate resources, members).
    NoLinks,
    /// `~`: hyperlinks inside `Links` only (dependent resources).
    Links,
}

/// `$expand` with its levels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Expand {
    pub kind: ExpandKind,
    pub levels: u32,
}

/// The query parameters of one request, parsed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Query {
    /// `$select`: property paths (`Status/Health` is `["Status", "Health"]`).
    pub select: Option<Vec<Vec<String>>>,
    pub expand: Option<Expand>,
    pub top: Option<usize>,
    pub skip: Option<usize>,
}

impl Query {
    pub fn is_empty(&self) -> bool {
        *self == Query::default()
    }
}

/// Why a query string was refused: Base registry message and status.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum QueryError {
    /// 501 QueryNotSupported: a parameter Redfish defines that is not built.
    NotSupported(String),
    /// 400 QueryParameterValueFormatError (value, parameter).
    Format(String, String),
    /// 400 QueryParameterOutOfRange (value, parameter, range).
    OutOfRange(String, String, String),
    /// 400 QueryNotSupportedOnResource: `$top`/`$skip` on a non-collection.
    NotOnResource,
    /// 400: the query string is longer than [`MAX_QUERY`].
    TooLong,
}

/// `ProtocolFeaturesSupported` of the service root: what [`parse`] accepts.
pub fn features() -> Value {
    json!({
        "ExpandQuery": {
            "ExpandAll": true,
            "NoLinks": true,
            "Links": true,
            "Levels": true,
            "MaxLevels": MAX_LEVELS,
        },
        "SelectQuery": true,
        "TopSkipQuery": true,
        "FilterQuery": false,
        "OnlyMemberQuery": false,
        "ExcerptQuery": false,
        "DeepOperations": { "DeepPATCH": false, "DeepPOST": false },
    })
}

/// `%XX` decoding (and `+` as a space, as forms send it); malformed escapes
/// are kept literally, so the value is refused by its own parser.
pub(crate) fn decode(s: &str) -> String {
    fakedc_net::url::percent_decode_lossy(s, true)
}

fn count(value: &str, param: &str) -> Result<usize, QueryError> {
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return Err(QueryError::Format(shown(value), param.into()));
    }
    value
        .parse::<usize>()
        .map_err(|_| QueryError::OutOfRange(shown(value), param.into(), "0 or more".into()))
}

/// A value as quoted back in an error message: bounded.
fn shown(v: &str) -> String {
    v.chars().take(64).collect()
}

fn expand(value: &str) -> Result<Expand, QueryError> {
    let bad = || QueryError::Format(shown(value), "$expand".into());
    let (head, opts) = match value.split_once('(') {
        Some((h, rest)) => (h, Some(rest.strip_suffix(')').ok_or_else(bad)?)),
        None => (value, None),
    };
    let kind = match head {
        "*" => ExpandKind::All,
        "." => ExpandKind::NoLinks,
        "~" => ExpandKind::Links,
        _ => return Err(bad()),
    };
    let mut levels = 1;
    if let Some(opts) = opts {
        let n = opts.strip_prefix("$levels=").ok_or_else(bad)?;
        if n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        levels = match n.parse::<u32>() {
            Ok(l) if (1..=MAX_LEVELS).contains(&l) => l,
            _ => {
                return Err(QueryError::OutOfRange(
                    shown(n),
                    "$levels".into(),
                    format!("1 to {MAX_LEVELS}"),
                ))
            }
        };
    }
    Ok(Expand { kind, levels })
}

fn select(value: &str) -> Result<Vec<Vec<String>>, QueryError> {
    let bad = || QueryError::Format(shown(value), "$select".into());
    let mut paths = Vec::new();
    for p in value.split(',') {
        let p = p.trim();
        let segs: Vec<String> = p.split('/').map(str::to_string).collect();
        if p.is_empty()
            || segs.iter().any(|s| {
                s.is_empty()
                    || !s
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '@' | '.' | '#'))
            })
        {
            return Err(bad());
        }
        paths.push(segs);
        if paths.len() > MAX_SELECT {
            return Err(bad());
        }
    }
    Ok(paths)
}

/// Parses a query string. Parameters Redfish does not define are ignored;
/// a repeated parameter keeps its last value.
pub fn parse(q: &str) -> Result<Query, QueryError> {
    if q.len() > MAX_QUERY {
        return Err(QueryError::TooLong);
    }
    let mut out = Query::default();
    for pair in q.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let (k, v) = (decode(k), decode(v));
        match k.as_str() {
            "$select" => out.select = Some(select(&v)?),
            "$expand" => out.expand = Some(expand(&v)?),
            "$top" => out.top = Some(count(&v, "$top")?),
            "$skip" => out.skip = Some(count(&v, "$skip")?),
            "only" | "excerpt" => return Err(QueryError::NotSupported(k)),
            k if k.starts_with('$') => return Err(QueryError::NotSupported(shown(k))),
            // DSP0266: unknown (non-`$`) query parameters are ignored.
            _ => {}
        }
    }
    Ok(out)
}

/// `$top`/`$skip` on a collection: a page of `Members`, the full count in
/// `Members@odata.count`, and `Members@odata.nextLink` to the next page.
pub fn page(v: &mut Value, path: &str, q: &Query) -> Result<(), QueryError> {
    if q.top.is_none() && q.skip.is_none() {
        return Ok(());
    }
    let Some(Value::Array(members)) = v.get_mut("Members") else {
        return Err(QueryError::NotOnResource);
    };
    let total = members.len();
    let skip = q.skip.unwrap_or(0).min(total);
    let top = q.top.unwrap_or(total);
    let page: Vec<Value> = members.drain(..).skip(skip).take(top).collect();
    *members = page;
    let next = skip.saturating_add(top);
    if let Some(o) = v.as_object_mut() {
        if next < total {
            o.insert(
                "Members@odata.nextLink".into(),
                json!(format!("{path}?$skip={next}&$top={top}")),
            );
        }
    }
    Ok(())
}

/// Whether a JSON value is a bare hyperlink (`{"@odata.id": "..."}`).
fn link_target(v: &Value) -> Option<&str> {
    let o = v.as_object()?;
    if o.len() != 1 {
        return None;
    }
    o.get("@odata.id")?.as_str()
}

/// `$expand`: hyperlinks replaced by the resources they name, read through
/// `fetch` (a GET by the same caller; `None` leaves the link as it is),
/// `levels` deep.
pub fn expand_links(v: &mut Value, e: Expand, fetch: &mut dyn FnMut(&str) -> Option<Value>) {
    walk(v, e.kind, e.levels, false, fetch);
}

fn walk(
    v: &mut Value,
    kind: ExpandKind,
    levels: u32,
    in_links: bool,
    fetch: &mut dyn FnMut(&str) -> Option<Value>,
) {
    if levels == 0 {
        return;
    }
    match v {
        Value::Object(o) => {
            for (k, child) in o.iter_mut() {
                let links = in_links || k == "Links";
                if let Some(target) = link_target(child) {
                    let wanted = match kind {
                        ExpandKind::All => true,
                        ExpandKind::NoLinks => !links,
                        ExpandKind::Links => links,
                    };
                    if wanted {
                        if let Some(mut r) = fetch(target) {
                            walk(&mut r, kind, levels - 1, false, fetch);
                            *child = r;
                        }
                    }
                } else {
                    walk(child, kind, levels, links, fetch);
                }
            }
        }
        Value::Array(a) => {
            for child in a.iter_mut() {
                if let Some(target) = link_target(child) {
                    let wanted = match kind {
                        ExpandKind::All => true,
                        ExpandKind::NoLinks => !in_links,
                        ExpandKind::Links => in_links,
                    };
                    if wanted {
                        if let Some(mut r) = fetch(target) {
                            walk(&mut r, kind, levels - 1, false, fetch);
                            *child = r;
                        }
                    }
                } else {
                    walk(child, kind, levels, in_links, fetch);
                }
            }
        }
        _ => {}
    }
}

/// `$select`: only the named properties (and sub-properties) remain, with
/// the OData annotations every resource keeps (`@odata.id`, `@odata.type`,
/// `@odata.etag`, `@odata.context`).
pub fn select_props(v: &Value, paths: &[Vec<String>]) -> Value {
    let Value::Object(o) = v else {
        return v.clone();
    };
    let mut out = Map::new();
    for k in ["@odata.id", "@odata.type", "@odata.etag", "@odata.context"] {
        if let Some(x) = o.get(k) {
            out.insert(k.into(), x.clone());
        }
    }
    for p in paths {
        copy_path(o, &mut out, p);
    }
    Value::Object(out)
}

fn copy_path(from: &Map<String, Value>, to: &mut Map<String, Value>, path: &[String]) {
    let Some((first, rest)) = path.split_first() else {
        return;
    };
    let Some(x) = from.get(first) else {
        return;
    };
    if rest.is_empty() {
        to.insert(first.clone(), x.clone());
        return;
    }
    let Value::Object(sub) = x else {
        return;
    };
    let entry = to
        .entry(first.clone())
        .or_insert_with(|| Value::Object(Map::new()));
    if let Value::Object(t) = entry {
        copy_path(sub, t, rest);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn parses_what_is_built_and_refuses_the_rest() {
        let q =
            parse("$select=Name,Status/Health&$expand=.($levels=2)&$top=1&$skip=0&foo=1").unwrap();
        assert_eq!(
            q.select.unwrap(),
            vec![
                vec!["Name".to_string()],
                vec!["Status".into(), "Health".into()]
            ]
        );
        assert_eq!(
            q.expand,
            Some(Expand {
                kind: ExpandKind::NoLinks,
                levels: 2
            })
        );
        assert_eq!((q.top, q.skip), (Some(1), Some(0)));
        assert_eq!(
            parse("%24expand=%2A").unwrap().expand.unwrap().kind,
            ExpandKind::All
        );
        assert!(parse("rpvunknown").unwrap().is_empty());
        assert_eq!(
            parse("$filter=x").unwrap_err(),
            QueryError::NotSupported("$filter".into())
        );
        assert_eq!(
            parse("only").unwrap_err(),
            QueryError::NotSupported("only".into())
        );
        assert!(matches!(parse("$top=-1"), Err(QueryError::Format(..))));
        assert!(matches!(
            parse("$top=99999999999999999999999"),
            Err(QueryError::OutOfRange(..))
        ));
        assert!(matches!(
            parse("$expand=.($levels=9)"),
            Err(QueryError::OutOfRange(..))
        ));
        assert!(matches!(parse("$expand=x"), Err(QueryError::Format(..))));
        assert!(matches!(parse("$select="), Err(QueryError::Format(..))));
        assert_eq!(parse(&"a".repeat(5000)), Err(QueryError::TooLong));
        // Truncated escapes never panic.
        assert!(parse("%").unwrap().is_empty());
        assert!(parse("%2").unwrap().is_empty());
    }

    #[test]
    fn pages_and_expands() {
        let mut v = json!({"Members": [{"@odata.id": "/a"}, {"@odata.id": "/b"}, {"@odata.id": "/c"}],
                           "Members@odata.count": 3});
        let q = parse("$skip=1&$top=1").unwrap();
        page(&mut v, "/x", &q).unwrap();
        assert_eq!(v["Members"], json!([{"@odata.id": "/b"}]));
        assert_eq!(v["Members@odata.nextLink"], "/x?$skip=2&$top=1");
        assert_eq!(
            page(&mut json!({}), "/x", &q),
            Err(QueryError::NotOnResource)
        );

        let mut v = json!({"A": {"@odata.id": "/a"}, "Links": {"B": [{"@odata.id": "/b"}]}});
        let mut fetch = |p: &str| Some(json!({"@odata.id": p, "Self": {"@odata.id": p}}));
        let mut dot = v.clone();
        expand_links(
            &mut dot,
            Expand {
                kind: ExpandKind::NoLinks,
                levels: 1,
            },
            &mut fetch,
        );
        assert_eq!(dot["A"]["Self"], json!({"@odata.id": "/a"}));
        assert_eq!(dot["Links"]["B"][0], json!({"@odata.id": "/b"}));
        expand_links(
            &mut v,
            Expand {
                kind: ExpandKind::Links,
                levels: 2,
            },
            &mut fetch,
        );
        assert_eq!(v["A"], json!({"@odata.id": "/a"}));
        assert_eq!(v["Links"]["B"][0]["@odata.id"], "/b");

        let s = select_props(
            &json!({"@odata.id": "/s", "Name": "n", "Status": {"Health": "OK", "State": "Enabled"}, "X": 1}),
            &parse("$select=Name,Status/Health").unwrap().select.unwrap(),
        );
        assert_eq!(
            s,
            json!({"@odata.id": "/s", "Name": "n", "Status": {"Health": "OK"}})
        );
    }
}
