//! CSV inventories: one device per row, a header row naming the columns
//! with fleet's field names ([`crate::vocab`]); any other column becomes
//! `data`.
//!
//! A CMDB or NetBox export names its columns its own way
//! (`name,primary_ip,device_type,site`): a column map says which column
//! holds which field, from `--csv-columns host=primary_ip,...`
//! ([`CsvColumns`]) or a `# fleet-columns: host=primary_ip,...` comment
//! line above the header (the flag wins field by field).
//!
//! Loading is [`header`] (validate the header, apply the map) then
//! [`row_to_device`] per row.

use crate::client_defaults::fill_gaps;
use crate::error::{chain, ErrorKind, InventoryError};
use crate::hostport::parse_user_host_port;
use crate::inventory::{Inventory, Origins};
use crate::secrets::{normalize_platform, resolve_path, Loc, SecretSource, Secrets};
use crate::vocab::{self, is_csv_column, parse_mode, parse_transport};
use crate::yaml::parse_port;
use crate::LoadOptions;
use fleet_proto::{Auth, Device, JumpHost};
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::net::IpAddr;
use std::path::Path;
use std::str::FromStr;

/// Which CSV column holds which fleet field (`host=primary_ip`), as given
/// to `--csv-columns` or in a `# fleet-columns:` line.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CsvColumns {
    /// (fleet field, column header), both lowercase, fields unique.
    pairs: Vec<(String, String)>,
}

impl CsvColumns {
    /// The column that holds `field`, if mapped.
    fn column_for(&self, field: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(f, _)| f == field)
            .map(|(_, c)| c.as_str())
    }

    /// `self`, with `other`'s mappings replacing ours field by field.
    fn overridden_by(&self, other: &CsvColumns) -> CsvColumns {
        let mut pairs: Vec<(String, String)> = self
            .pairs
            .iter()
            .filter(|(f, _)| other.column_for(f).is_none())
            .cloned()
            .collect();
        pairs.extend(other.pairs.iter().cloned());
        CsvColumns { pairs }
    }

    /// True when no column is mapped.
    pub fn is_empty(&self) -> bool {
        self.pairs.is_empty()
    }
}

/// A `--csv-columns` value that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadCsvColumns(String);

impl fmt::Display for BadCsvColumns {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for BadCsvColumns {}

impl FromStr for CsvColumns {
    type Err = BadCsvColumns;

    /// `field=column[,field=column...]`; fields are fleet's CSV field names.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut pairs: Vec<(String, String)> = Vec::new();
        for item in s.split(',').map(str::trim).filter(|i| !i.is_empty()) {
            let (field, column) = item.split_once('=').ok_or_else(|| {
                BadCsvColumns(format!(
                    "`{item}` is not FIELD=COLUMN (example: host=primary_ip,platform=device_type)"
                ))
            })?;
            let (field, column) = (field.trim().to_ascii_lowercase(), column.trim());
            if !is_csv_column(&field) {
                let known: Vec<&str> = vocab::DEVICE_KEYS
                    .iter()
                    .copied()
                    .chain(["password"])
                    .filter(|k| is_csv_column(k))
                    .collect();
                return Err(BadCsvColumns(format!(
                    "`{field}` is not a fleet field{}",
                    crate::suggest::did_you_mean(&field, &known)
                )));
            }
            if column.is_empty() {
                return Err(BadCsvColumns(format!("`{item}`: empty column name")));
            }
            if pairs.iter().any(|(f, _)| *f == field) {
                return Err(BadCsvColumns(format!("field `{field}` is mapped twice")));
            }
            pairs.push((field, column.to_ascii_lowercase()));
        }
        if pairs.is_empty() {
            return Err(BadCsvColumns(
                "no mapping (example: host=primary_ip,platform=device_type)".to_owned(),
            ));
        }
        Ok(CsvColumns { pairs })
    }
}

fn delimiter(path: &Path, text: &str) -> u8 {
    if path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("tsv"))
    {
        return b'\t';
    }
    let header = text
        .lines()
        .find(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .unwrap_or("");
    let count = |c| header.matches(c).count();
    if count(';') > count(',') {
        b';'
    } else if count('\t') > count(',') {
        b'\t'
    } else {
        b','
    }
}

fn split_list(v: &str, seps: &[char]) -> Vec<String> {
    v.split(seps)
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

/// The `# fleet-columns:` line above the header, with its line number.
fn columns_comment(file: &Path, text: &str) -> Result<Option<CsvColumns>, InventoryError> {
    for (i, line) in text.lines().enumerate() {
        let t = line.trim();
        if t.is_empty() {
            continue;
        }
        let Some(comment) = t.strip_prefix('#') else {
            return Ok(None); // the header: no map above it
        };
        if let Some(spec) = comment.trim().strip_prefix("fleet-columns:") {
            return spec.parse().map(Some).map_err(|e: BadCsvColumns| {
                InventoryError::at(
                    file,
                    Some(i + 1),
                    None,
                    Some("fleet-columns"),
                    ErrorKind::InvalidValue,
                    e.0,
                )
            });
        }
    }
    Ok(None)
}

/// The validated header: where each fleet field is, and which columns are
/// free-form data.
pub(crate) struct Header {
    /// fleet field -> column index.
    fields: HashMap<String, usize>,
    /// Data columns: (index, key).
    data: Vec<(usize, String)>,
}

impl Header {
    fn col(&self, field: &str) -> Option<usize> {
        self.fields.get(field).copied()
    }
}

/// Checks the header (no empty or duplicate names, a `name` column) and
/// applies the column map; every error names the header line.
pub(crate) fn header(
    file: &Path,
    line: usize,
    headers: &[String],
    map: &CsvColumns,
    map_origin: &str,
) -> Result<Header, InventoryError> {
    let err = |column: Option<usize>, field: Option<&str>, kind, msg: String| {
        InventoryError::at(file, Some(line), column, field, kind, msg)
    };
    let mut by_name: HashMap<&str, usize> = HashMap::new();
    for (i, h) in headers.iter().enumerate() {
        if h.is_empty() {
            return Err(err(
                Some(i + 1),
                None,
                ErrorKind::Syntax,
                format!("column {} has an empty header", i + 1),
            ));
        }
        if by_name.insert(h.as_str(), i).is_some() {
            return Err(err(
                Some(i + 1),
                Some(h),
                ErrorKind::Syntax,
                "duplicate column".to_owned(),
            ));
        }
    }
    let mut fields: HashMap<String, usize> = HashMap::new();
    for (field, column) in &map.pairs {
        let i = *by_name.get(column.as_str()).ok_or_else(|| {
            err(
                None,
                Some(field),
                ErrorKind::MissingField,
                format!(
                    "{map_origin} maps `{field}` to column `{column}`, which the header does not have (found: {})",
                    headers.join(", ")
                ),
            )
        })?;
        fields.insert(field.clone(), i);
    }
    for (i, h) in headers.iter().enumerate() {
        if !is_csv_column(h) || fields.values().any(|&c| c == i) {
            continue;
        }
        if let Some(&mapped) = fields.get(h.as_str()) {
            return Err(err(
                Some(i + 1),
                Some(h),
                ErrorKind::Syntax,
                format!(
                    "both column `{h}` and column `{}` ({map_origin}) give `{h}`; rename or drop one",
                    headers[mapped]
                ),
            ));
        }
        fields.insert(h.clone(), i);
    }
    if !fields.contains_key("name") {
        return Err(err(
            None,
            Some("name"),
            ErrorKind::MissingField,
            format!(
                "the header has no `name` column (found: {}); map one with --csv-columns name=COLUMN",
                headers.join(", ")
            ),
        ));
    }
    let data = (0..headers.len())
        .filter(|i| !fields.values().any(|c| c == i))
        .map(|i| (i, headers[i].clone()))
        .collect();
    Ok(Header { fields, data })
}

/// The host as written, with brackets around IPv6 removed and a CIDR
/// suffix stripped: `10.1.0.5/24` (an interface address, as NetBox exports
/// `primary_ip`) becomes `10.1.0.5` (`Ok(Some(suffix))` says a suffix was
/// stripped); a network address (`10.1.0.0/24`) is refused.
/// (Crate-private: `Err` is a message the caller wraps at once with file,
/// line and field.)
fn host_address(raw: &str) -> Result<(String, Option<String>), String> {
    let raw = raw
        .strip_prefix('[')
        .and_then(|r| r.strip_suffix(']'))
        .unwrap_or(raw);
    let Some((addr, len)) = raw.split_once('/') else {
        return Ok((raw.to_owned(), None));
    };
    let ip: IpAddr = addr
        .parse()
        .map_err(|_| format!("`{raw}` is neither a host name nor an address with a CIDR suffix"))?;
    let max = if ip.is_ipv4() { 32 } else { 128 };
    let len: u32 = len
        .parse()
        .ok()
        .filter(|l| *l <= max)
        .ok_or_else(|| format!("`{raw}`: invalid prefix length `/{len}` (expected 0-{max})"))?;
    let host_bits = max - len;
    let bits: u128 = match ip {
        IpAddr::V4(v4) => u128::from(u32::from(v4)),
        IpAddr::V6(v6) => u128::from(v6),
    };
    // /31 and /127 are point-to-point links: both addresses are hosts.
    let is_network = host_bits >= 2 && bits & ((1u128 << host_bits) - 1) == 0;
    if is_network {
        return Err(format!(
            "`{raw}` is a network, not a host address; give the device's own address"
        ));
    }
    Ok((addr.to_owned(), Some(format!("/{len}"))))
}

/// Everything a row needs besides its cells.
pub(crate) struct RowCtx<'a> {
    file: &'a Path,
    base: &'a Path,
    header: &'a Header,
    secrets: Secrets,
    /// Where each device's fields were set, when asked for.
    origins: Option<BTreeMap<String, Origins>>,
    /// (count, first `file:line`) of hosts whose CIDR suffix was stripped.
    cidr: Option<(usize, String, String)>,
}

/// Builds the device of one row (at `line`), reading its secrets.
pub(crate) fn row_to_device(
    cx: &mut RowCtx<'_>,
    rec: &csv::StringRecord,
    line: usize,
) -> Result<Device, InventoryError> {
    let (file, base, h) = (cx.file, cx.base, cx.header);
    let cell = |name: &str| {
        h.col(name)
            .and_then(|i| rec.get(i))
            .filter(|v| !v.is_empty())
    };
    let err = |name: &str, kind, msg: String| {
        InventoryError::at(
            file,
            Some(line),
            h.col(name).map(|i| i + 1),
            Some(name),
            kind,
            msg,
        )
    };
    let loc = |name: &'static str| Loc {
        file,
        line: Some(line),
        column: h.col(name).map(|i| i + 1),
        field: name,
    };
    let secrets = &mut cx.secrets;

    let name = cell("name").ok_or_else(|| {
        err(
            "name",
            ErrorKind::MissingField,
            "empty device name".to_owned(),
        )
    })?;
    let transport = match cell("transport") {
        None => fleet_proto::Transport::Ssh,
        Some(t) => parse_transport(t).map_err(|m| err("transport", ErrorKind::InvalidValue, m))?,
    };
    let port = match cell("port") {
        Some(p) => parse_port(p).map_err(|m| err("port", ErrorKind::InvalidValue, m))?,
        None => vocab::default_port(transport),
    };
    let host = match cell("host") {
        Some(raw) => {
            let (host, cut) =
                host_address(raw).map_err(|m| err("host", ErrorKind::InvalidValue, m))?;
            if let Some(suffix) = cut {
                let c = cx.cidr.get_or_insert_with(|| {
                    (
                        0,
                        format!("{}:{line}", file.display()),
                        format!("{raw} -> {host} ({suffix})"),
                    )
                });
                c.0 += 1;
            }
            host
        }
        None => name.to_owned(),
    };
    let mut d = Device::new(name, host, port);
    d.transport = transport;
    d.username = cell("username").unwrap_or_default().to_owned();
    d.platform = cell("platform").map(|p| normalize_platform(p, secrets));
    d.groups = cell("groups")
        .map(|g| split_list(g, &[';', '|']))
        .unwrap_or_default();
    d.commands = cell("commands")
        .map(|c| split_list(c, &[';']))
        .unwrap_or_default();
    if let Some(m) = cell("mode") {
        d.mode = Some(parse_mode(m).map_err(|m| err("mode", ErrorKind::InvalidValue, m))?);
    }
    if let Some(k) = cell("key_file") {
        let path = resolve_path(base, k)
            .map_err(|e| err("key_file", ErrorKind::InvalidValue, chain(&e)))?;
        secrets.check_key_file(&path, loc("key_file"))?;
        let passphrase = match cell("key_passphrase_env") {
            Some(v) => {
                Some(secrets.read(&SecretSource::Env(v.to_owned()), loc("key_passphrase_env"))?)
            }
            None => None,
        };
        d.auth.push(Auth::KeyFile { path, passphrase });
    }
    if let Some(a) = cell("agent") {
        if vocab::parse_bool(a).map_err(|m| err("agent", ErrorKind::InvalidValue, m))? {
            d.auth.push(Auth::Agent);
        }
    }
    let password_field = match (
        cell("password_env"),
        cell("password_file"),
        cell("password"),
    ) {
        (Some(v), _, _) => {
            d.auth.push(Auth::Password(
                secrets.read(&SecretSource::Env(v.to_owned()), loc("password_env"))?,
            ));
            Some("password_env")
        }
        (None, Some(f), _) => {
            let path = resolve_path(base, f)
                .map_err(|e| err("password_file", ErrorKind::InvalidValue, chain(&e)))?;
            d.auth.push(Auth::Password(
                secrets.read(&SecretSource::File(path), loc("password_file"))?,
            ));
            Some("password_file")
        }
        (None, None, Some(p)) => {
            d.auth
                .push(Auth::Password(secrets.plaintext(file, "password", p)));
            Some("password")
        }
        (None, None, None) => None,
    };
    if let Some(v) = cell("enable_secret_env") {
        d.enable_secret =
            Some(secrets.read(&SecretSource::Env(v.to_owned()), loc("enable_secret_env"))?);
    }
    if let Some(j) = cell("jump_host") {
        for hop in split_list(j, &[';', '|']) {
            let (user, host, port) = parse_user_host_port(&hop)
                .map_err(|m| err("jump_host", ErrorKind::InvalidValue, m))?;
            d.jump.push(JumpHost {
                host,
                port: port.unwrap_or(22),
                username: user.unwrap_or_default(),
                auth: Vec::new(),
            });
        }
    }
    d.timeouts =
        vocab::parse_timeouts(cell).map_err(|(f, m)| err(f, ErrorKind::InvalidValue, m))?;
    for (i, key) in &h.data {
        if let Some(v) = rec.get(*i).filter(|v| !v.is_empty()) {
            d.data.insert(key.clone(), v.to_owned());
        }
    }
    if let Some(all) = &mut cx.origins {
        // Every cell of the row is on the row's line; the column says which.
        let at = format!("{}:{line}", file.display());
        let mut o = Origins::new();
        let mut note = |field: &str, column: &str| {
            if cell(column).is_some() {
                o.insert(field.to_owned(), at.clone());
            }
        };
        for f in [
            "host",
            "port",
            "transport",
            "username",
            "platform",
            "mode",
            "commands",
        ] {
            note(f, f);
        }
        if let Some(p) = password_field {
            note("password", p);
        }
        note("key_file", "key_file");
        note("agent", "agent");
        note("enable_secret", "enable_secret_env");
        note("jump", "jump_host");
        for t in vocab::TimeoutKind::ALL {
            note(t.field(), t.field());
        }
        for (i, key) in &h.data {
            if rec.get(*i).is_some_and(|v| !v.is_empty()) {
                o.insert(format!("data.{key}"), at.clone());
            }
        }
        all.insert(d.name.clone(), o);
    }
    fill_gaps(&mut d, secrets);
    Ok(d)
}

/// Loads CSV text read from `file`.
pub(crate) fn load(
    text: &str,
    file: &Path,
    opts: &LoadOptions,
) -> Result<Inventory, InventoryError> {
    let base = file.parent().unwrap_or(Path::new("."));
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter(file, text))
        .comment(Some(b'#'))
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let csv_err = |e: csv::Error| {
        let line = e.position().map(|p| p.line() as usize);
        let msg = match e.kind() {
            csv::ErrorKind::UnequalLengths {
                expected_len, len, ..
            } => {
                format!("row has {len} fields but the header has {expected_len}")
            }
            csv::ErrorKind::Utf8 { .. } => "not valid UTF-8".to_owned(),
            _ => format!("invalid CSV: {e}"),
        };
        InventoryError::at(file, line, None, None, ErrorKind::Syntax, msg)
    };
    let headers: Vec<String> = reader
        .headers()
        .map_err(csv_err)?
        .iter()
        .map(|h| h.trim().to_ascii_lowercase())
        .collect();
    // The header is the first line that is neither blank nor a comment.
    let header_line = text
        .lines()
        .position(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map_or(1, |i| i + 1);
    let in_file = columns_comment(file, text)?;
    let (map, map_origin) = match (&in_file, &opts.csv_columns) {
        (Some(c), Some(flag)) => (c.overridden_by(flag), "the column map"),
        (Some(c), None) => (c.clone(), "`# fleet-columns:`"),
        (None, Some(flag)) => (flag.clone(), "--csv-columns"),
        (None, None) => (CsvColumns::default(), "the column map"),
    };
    let header = header(file, header_line, &headers, &map, map_origin)?;

    let mut cx = RowCtx {
        file,
        base,
        header: &header,
        secrets: Secrets::default(),
        origins: opts.sources.then(BTreeMap::new),
        cidr: None,
    };
    let mut devices = Vec::new();
    let mut seen: HashMap<String, usize> = HashMap::new();
    for rec in reader.records() {
        let rec = rec.map_err(csv_err)?;
        let line = rec.position().map_or(0, |p| p.line() as usize);
        // Names are checked before the row's secrets are read.
        let name_col = header.col("name");
        if let Some(name) = name_col.and_then(|i| rec.get(i)).filter(|n| !n.is_empty()) {
            if let Some(first) = seen.insert(name.to_owned(), line) {
                return Err(InventoryError::at(
                    file,
                    Some(line),
                    name_col.map(|i| i + 1),
                    Some("name"),
                    ErrorKind::DuplicateName,
                    format!("duplicate device name `{name}` (first defined at line {first})"),
                ));
            }
        }
        devices.push(row_to_device(&mut cx, &rec, line)?);
    }
    let mut warnings = std::mem::take(&mut cx.secrets.warnings);
    if let Some((n, at, example)) = cx.cidr {
        warnings.push(format!(
            "{at}: field `host`: CIDR suffix stripped from {n} host address(es) (first: {example})"
        ));
    }
    Ok(Inventory {
        devices,
        known_hosts: None,
        host_key_check: None,
        warnings,
        source: file.to_path_buf(),
        origins: cx.origins.unwrap_or_default(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_column_maps() {
        let c: CsvColumns = "host=primary_ip, Platform=Device_Type".parse().unwrap();
        assert_eq!(c.column_for("host"), Some("primary_ip"));
        assert_eq!(c.column_for("platform"), Some("device_type"));
        assert_eq!(c.column_for("name"), None);
        assert_eq!(
            "hots=ip".parse::<CsvColumns>().unwrap_err().to_string(),
            "`hots` is not a fleet field; did you mean `host`?"
        );
        assert!("host".parse::<CsvColumns>().is_err());
        assert!("host=a,host=b".parse::<CsvColumns>().is_err());
        assert!("host=".parse::<CsvColumns>().is_err());
        assert!("".parse::<CsvColumns>().is_err());
        let flag: CsvColumns = "host=mgmt".parse().unwrap();
        let both = c.overridden_by(&flag);
        assert_eq!(both.column_for("host"), Some("mgmt"));
        assert_eq!(both.column_for("platform"), Some("device_type"));
    }

    #[test]
    fn strips_host_cidr_suffixes_and_refuses_networks() {
        assert_eq!(host_address("r1.lab").unwrap(), ("r1.lab".into(), None));
        assert_eq!(
            host_address("10.1.0.1/32").unwrap(),
            ("10.1.0.1".into(), Some("/32".into()))
        );
        assert_eq!(
            host_address("10.1.0.5/24").unwrap(),
            ("10.1.0.5".into(), Some("/24".into()))
        );
        assert_eq!(
            host_address("10.1.0.0/31").unwrap(),
            ("10.1.0.0".into(), Some("/31".into()))
        );
        assert_eq!(
            host_address("2001:db8::1/64").unwrap(),
            ("2001:db8::1".into(), Some("/64".into()))
        );
        assert_eq!(host_address("[::1]").unwrap(), ("::1".into(), None));
        assert_eq!(
            host_address("10.1.0.0/24").unwrap_err(),
            "`10.1.0.0/24` is a network, not a host address; give the device's own address"
        );
        assert!(host_address("2001:db8::/64").is_err());
        assert!(host_address("10.1.0.1/33").is_err());
        assert!(host_address("r1/32").is_err());
    }
}
