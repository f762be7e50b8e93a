//! Number files (open95 §6.3.2 号码文件): reading the numbers out of .txt, .csv, .xls and .xlsx
//! uploads, and keeping the uploaded bytes per tenant.
//!
//! Every input is hostile until read: the size and row count are capped, an .xlsx (a zip) has its
//! central directory checked before anything is inflated and its inflated bytes counted while
//! they are read (declared sizes can lie), and an .xls has its cell extents bounded before the
//! spreadsheet reader lays its sheets out in memory. Bytes are stored under
//! `<files dir>/<corp>/<id>` and found through the database only: a client's file name never
//! becomes a path.

use crate::{CcError, Services, Tenant};
use std::collections::HashSet;
use std::io::{Cursor, Read, Write};
use std::path::{Path, PathBuf};
use yunhu_store::StoreError;
pub use yunhu_store::numberfiles::StoredNumberFile;

/// Largest file accepted, in bytes.
pub const MAX_FILE_BYTES: usize = 10 * 1024 * 1024;
/// Most data rows a file may have (a header row is not counted).
pub const MAX_ROWS: usize = 100_000;
/// Most bytes an .xlsx may inflate to, declared or actual, all entries together.
pub const MAX_INFLATED_BYTES: u64 = 100 * 1024 * 1024;
/// Highest inflated:compressed ratio of a large .xlsx entry; real sheets stay far below it.
pub const MAX_RATIO: u64 = 100;
/// Entries smaller than this are not held to [`MAX_RATIO`] (tiny parts compress oddly well).
const RATIO_FROM_BYTES: u64 = 1024 * 1024;
/// Most entries an .xlsx may have.
const MAX_ZIP_ENTRIES: usize = 1_000;
/// Most cells the sheets of an .xls may span or declare (rows × columns, all sheets summed): the
/// reader allocates them all, 32-40 bytes a cell. A 100,000-row list of two columns needs 200,000.
const MAX_XLS_CELLS: u64 = 2 * 1024 * 1024;
/// Longest description kept with a number, in characters.
const MAX_DESCRIPTION_CHARS: usize = 500;
/// Longest file name, in characters.
const MAX_NAME_CHARS: usize = 100;
/// How many rejected rows an answer lists (all are counted).
pub const MAX_REPORTED: usize = 100;

/// A number file's format, by its name's extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// One number per line, optionally `number,description` or `number:description`.
    Txt,
    /// Comma- or tab-separated: number, description.
    Csv,
    /// Excel 97-2003 (BIFF8): first sheet, first column number, second description.
    Xls,
    /// Office Open XML: as [`Format::Xls`].
    Xlsx,
}

impl Format {
    /// The format of a file called `name`, or `None` when its extension is not one of ours.
    pub fn of(name: &str) -> Option<Format> {
        let (_, ext) = name.rsplit_once('.')?;
        match ext.to_ascii_lowercase().as_str() {
            "txt" => Some(Format::Txt),
            "csv" => Some(Format::Csv),
            "xls" => Some(Format::Xls),
            "xlsx" => Some(Format::Xlsx),
            _ => None,
        }
    }

    /// The MIME type a download carries.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Txt => "text/plain",
            Format::Csv => "text/csv",
            Format::Xls => "application/vnd.ms-excel",
            Format::Xlsx => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        }
    }
}

/// A row that gave no number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejected {
    /// 1-based row (line) number in the file.
    pub row: usize,
    /// What the number cell held.
    pub value: String,
    /// Why it was refused.
    pub reason: String,
}

/// The numbers of a file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NumberList {
    /// Distinct valid numbers with their descriptions, in file order.
    pub numbers: Vec<(String, String)>,
    /// Data rows read (blank rows and a header row are not counted).
    pub rows: usize,
    /// Rows whose number an earlier row already had.
    pub duplicates: usize,
    /// The first [`MAX_REPORTED`] refused rows.
    pub rejected: Vec<Rejected>,
    /// How many rows were refused in all.
    pub rejected_total: usize,
}

fn invalid(message: String) -> CcError {
    CcError::Invalid(message)
}

/// Checks an upload's name and gives its format: a plain name (no folders, no control
/// characters, at most 100 characters) ending in .txt, .csv, .xls or .xlsx.
pub fn check_name(name: &str) -> Result<Format, CcError> {
    let bad = |why: &str| invalid(format!("文件名 {name:?} 不可用 (file name {name:?} {why})"));
    if name.is_empty() || name.chars().count() > MAX_NAME_CHARS {
        return Err(bad("must have 1-100 characters"));
    }
    if name.contains(['/', '\\']) || name.chars().any(char::is_control) || name.starts_with('.') || name.trim() != name
    {
        return Err(bad("must be a plain name: no folders, control characters, leading dot or edge spaces"));
    }
    Format::of(name).ok_or_else(|| {
        invalid(format!(
            "文件 {name:?} 不是号码文件，只接受 .xls、.xlsx、.csv、.txt (not a number file: \
             only .xls, .xlsx, .csv and .txt are taken)"
        ))
    })
}

/// Reads the numbers of file `name` (its extension says the format).
pub fn parse(name: &str, bytes: &[u8]) -> Result<NumberList, CcError> {
    let format = check_name(name)?;
    if bytes.len() > MAX_FILE_BYTES {
        return Err(too_big(bytes.len()));
    }
    let mut rows = Rows::default();
    match format {
        Format::Txt => text_rows(bytes, &mut rows, &[',', ':', '\t'])?,
        Format::Csv => text_rows(bytes, &mut rows, &[',', '\t'])?,
        Format::Xls => xls_rows(bytes, &mut rows)?,
        Format::Xlsx => xlsx_rows(bytes, &mut rows)?,
    }
    let list = rows.finish();
    if list.numbers.is_empty() {
        let first = list.rejected.first().map(|r| format!("; row {} {:?}: {}", r.row, r.value, r.reason));
        return Err(invalid(format!(
            "文件 {name} 中没有有效号码 (file {name} holds no valid number{})",
            first.unwrap_or_default()
        )));
    }
    Ok(list)
}

fn too_big(len: usize) -> CcError {
    invalid(format!(
        "文件过大：{len} 字节，上限 {MAX_FILE_BYTES} 字节 (file too large: {len} bytes, at most {MAX_FILE_BYTES})"
    ))
}

/// Numbers as they are read, row by row.
#[derive(Default)]
struct Rows {
    list: NumberList,
    seen: HashSet<String>,
    /// Whether a non-blank row was seen (the first may be a header).
    started: bool,
}

impl Rows {
    /// Takes row `row` (1-based): its number cell and description cell.
    fn push(&mut self, row: usize, number: &str, description: &str) -> Result<(), CcError> {
        let (number, description) = (number.trim(), description.trim());
        if number.is_empty() && description.is_empty() {
            return Ok(());
        }
        let first = !self.started;
        self.started = true;
        let checked = normalize(number);
        // A first row without a number is a header (手机号,备注 and the like).
        if first && checked.is_err() {
            return Ok(());
        }
        self.list.rows += 1;
        if self.list.rows > MAX_ROWS {
            return Err(invalid(format!("文件行数超过 {MAX_ROWS} (the file has more than {MAX_ROWS} rows)")));
        }
        let reason = match checked {
            Err(why) => Some(why.to_string()),
            Ok(_) if description.chars().count() > MAX_DESCRIPTION_CHARS => {
                Some(format!("description longer than {MAX_DESCRIPTION_CHARS} characters"))
            }
            Ok(n) => {
                if self.seen.insert(n.clone()) {
                    self.list.numbers.push((n, description.to_string()));
                } else {
                    self.list.duplicates += 1;
                }
                None
            }
        };
        if let Some(reason) = reason {
            self.list.rejected_total += 1;
            if self.list.rejected.len() < MAX_REPORTED {
                let value: String = number.chars().take(40).collect();
                self.list.rejected.push(Rejected { row, value, reason });
            }
        }
        Ok(())
    }

    fn finish(self) -> NumberList {
        self.list
    }
}

/// A number as dialed: spaces and dashes taken out, then an optional `+` and digits, 5-20
/// characters in all. Number files and the action dialect's data verbs take numbers by it.
pub fn normalize(raw: &str) -> Result<String, &'static str> {
    let n: String = raw.chars().filter(|c| !matches!(c, ' ' | '-' | '\u{3000}')).collect();
    let digits = n.strip_prefix('+').unwrap_or(&n);
    if digits.is_empty() || !digits.chars().all(|c| c.is_ascii_digit()) {
        return Err("not a number: only digits and an optional leading + are allowed");
    }
    if !(5..=20).contains(&n.len()) {
        return Err("a number must have 5-20 characters");
    }
    Ok(n)
}

/// Text as UTF-8 (with or without a BOM) or, when it is not valid UTF-8, GBK.
fn decode(bytes: &[u8]) -> Result<String, CcError> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let text = match std::str::from_utf8(bytes) {
        Ok(s) => s.to_string(),
        Err(_) => encoding_rs::GBK
            .decode_without_bom_handling_and_without_replacement(bytes)
            .ok_or_else(|| invalid("文件既不是 UTF-8 也不是 GBK 文本 (the file is neither UTF-8 nor GBK text)".into()))?
            .into_owned(),
    };
    // Binary files often decode as GBK; a NUL byte never belongs in a number list.
    if text.contains('\0') {
        return Err(invalid("文件不是文本文件 (the file is not text: it holds NUL bytes)".into()));
    }
    Ok(text)
}

/// The cells of one delimited line: the first of `separators` found splits it; double quotes
/// around a cell are removed (`""` inside stands for `"`).
fn split_line(line: &str, separators: &[char]) -> (String, String) {
    let Some(sep) = line.chars().find(|c| separators.contains(c) || *c == '"') else {
        return (line.to_string(), String::new());
    };
    let mut cells = Vec::new();
    let mut cell = String::new();
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    // When a quote comes first, the separator is whichever of ours follows the quoted cell.
    let mut sep = if sep == '"' { None } else { Some(sep) };
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                chars.next();
                cell.push('"');
            }
            '"' => quoted = !quoted,
            c if !quoted && (sep == Some(c) || (sep.is_none() && separators.contains(&c))) => {
                sep = Some(c);
                cells.push(std::mem::take(&mut cell));
                if cells.len() == 2 {
                    break;
                }
            }
            c => cell.push(c),
        }
    }
    cells.push(cell);
    let mut cells = cells.into_iter();
    (cells.next().unwrap_or_default(), cells.next().unwrap_or_default())
}

fn text_rows(bytes: &[u8], rows: &mut Rows, separators: &[char]) -> Result<(), CcError> {
    let text = decode(bytes)?;
    for (i, line) in text.lines().enumerate() {
        let (number, description) = split_line(line, separators);
        rows.push(i + 1, &number, &description)?;
    }
    Ok(())
}

/// A spreadsheet cell as text: whole numbers without `.0` (phone numbers are stored as numbers).
fn cell_text(cell: &calamine::Data) -> String {
    use calamine::Data;
    match cell {
        Data::Float(f) if f.fract() == 0.0 && f.abs() < 1e18 => format!("{}", *f as i64),
        Data::Empty => String::new(),
        other => other.to_string(),
    }
}

/// Cells of the first two columns, grouped by row, in row order.
#[derive(Default)]
struct SheetRows {
    rows: std::collections::BTreeMap<u32, (String, String)>,
}

impl SheetRows {
    fn put(&mut self, row: u32, col: u32, text: String) -> Result<(), CcError> {
        if col > 1 {
            return Ok(());
        }
        // One more than the limit: the first row may be a header.
        if !self.rows.contains_key(&row) && self.rows.len() > MAX_ROWS {
            return Err(invalid(format!("文件行数超过 {MAX_ROWS} (the file has more than {MAX_ROWS} rows)")));
        }
        let slot = self.rows.entry(row).or_default();
        if col == 0 {
            slot.0 = text
        } else {
            slot.1 = text
        }
        Ok(())
    }

    fn into_rows(self, rows: &mut Rows) -> Result<(), CcError> {
        for (row, (number, description)) in self.rows {
            rows.push(row as usize + 1, &number, &description)?;
        }
        Ok(())
    }
}

fn not_a(kind: &str, e: impl std::fmt::Display) -> CcError {
    invalid(format!("文件不是有效的 {kind} 文件 (not a valid {kind} file: {e})"))
}

fn bomb(why: String) -> CcError {
    invalid(format!("拒绝疑似压缩炸弹的文件 (refused as a possible zip bomb: {why})"))
}

/// Checks an .xlsx's zip before the spreadsheet reader inflates it: the central directory's
/// declared sizes and ratios first, then the actual inflated bytes, stopping as soon as an entry
/// passes its ratio or all pass the total.
pub fn check_zip(bytes: &[u8]) -> Result<(), CcError> {
    let mut zip = zip::ZipArchive::new(Cursor::new(bytes)).map_err(|e| not_a(".xlsx", e))?;
    if zip.len() > MAX_ZIP_ENTRIES {
        return Err(bomb(format!("{} entries, at most {MAX_ZIP_ENTRIES}", zip.len())));
    }
    let mut declared = 0u64;
    for i in 0..zip.len() {
        let entry = zip.by_index_raw(i).map_err(|e| not_a(".xlsx", e))?;
        let (size, packed, name) = (entry.size(), entry.compressed_size(), entry_name(&entry, i));
        if size > MAX_INFLATED_BYTES {
            return Err(bomb(format!("entry {name} declares {size} bytes, at most {MAX_INFLATED_BYTES}")));
        }
        if size > RATIO_FROM_BYTES && size / packed.max(1) > MAX_RATIO {
            return Err(bomb(format!("entry {name} inflates {packed} bytes to {size}, more than {MAX_RATIO}:1")));
        }
        declared += size;
        if declared > MAX_INFLATED_BYTES {
            return Err(bomb(format!("entries declare more than {MAX_INFLATED_BYTES} bytes in all")));
        }
    }
    let mut budget = MAX_INFLATED_BYTES;
    for i in 0..zip.len() {
        let entry = zip.by_index(i).map_err(|e| not_a(".xlsx", e))?;
        let name = entry_name(&entry, i);
        let ratio_cap = entry.compressed_size().saturating_mul(MAX_RATIO).max(RATIO_FROM_BYTES);
        let cap = budget.min(ratio_cap);
        let mut counter = Counter(0);
        // The zip reader itself stops an entry that outgrows its declared size: a lie, so a bomb.
        std::io::copy(&mut entry.take(cap + 1), &mut counter)
            .map_err(|e| bomb(format!("entry {name} does not inflate as it declares: {e}")))?;
        if counter.0 > cap {
            return Err(bomb(format!("entry {name} inflates past {cap} bytes, more than it declared or may")));
        }
        budget -= counter.0;
    }
    Ok(())
}

/// An entry's name for a message (its index when the name cannot be read).
fn entry_name<R: Read>(entry: &zip::read::ZipFile<'_, R>, index: usize) -> String {
    entry.name().map(|n| n.into_owned()).unwrap_or_else(|_| format!("#{index}"))
}

/// Counts bytes written, keeping none.
struct Counter(u64);

impl Write for Counter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0 += buf.len() as u64;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn xlsx_rows(bytes: &[u8], rows: &mut Rows) -> Result<(), CcError> {
    check_zip(bytes)?;
    use calamine::Reader;
    let mut book = calamine::Xlsx::new(Cursor::new(bytes)).map_err(|e| not_a(".xlsx", e))?;
    let first = book.sheet_names().first().cloned().ok_or_else(|| not_a(".xlsx", "no sheet"))?;
    // The cell reader streams the sheet; a range would allocate its whole extent.
    let mut cells = book.worksheet_cells_reader(&first).map_err(|e| not_a(".xlsx", e))?;
    let mut sheet = SheetRows::default();
    while let Some(cell) = cells.next_cell().map_err(|e| not_a(".xlsx", e))? {
        let (row, col) = cell.get_position();
        let value: calamine::Data = cell.get_value().clone().into();
        sheet.put(row, col, cell_text(&value))?;
    }
    sheet.into_rows(rows)
}

/// Bounds what calamine allocates for an .xls before it opens it: it lays out every sheet a
/// BoundSheet record points at when the workbook opens, reserving room for each sheet's declared
/// DIMENSIONS and then for the extent of its cells. Each sheet is walked from where calamine
/// starts it, so a sheet cannot hide its records from this check.
fn check_xls(bytes: &[u8]) -> Result<(), CcError> {
    let mut file = cfb::CompoundFile::open(Cursor::new(bytes)).map_err(|e| not_a(".xls", e))?;
    let stream = ["/Workbook", "/Book"]
        .into_iter()
        .find(|p| file.is_stream(p))
        .ok_or_else(|| not_a(".xls", "no Workbook stream"))?;
    let mut data = Vec::new();
    let s = file.open_stream(stream).map_err(|e| not_a(".xls", e))?;
    s.take(MAX_FILE_BYTES as u64 + 1).read_to_end(&mut data).map_err(|e| not_a(".xls", e))?;
    if data.len() > MAX_FILE_BYTES {
        return Err(too_big(data.len()));
    }
    let u16_at = |b: &[u8], i: usize| u32::from(u16::from_le_bytes([b[i], b[i + 1]]));
    let u32_at = |b: &[u8], i: usize| u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
    // The records from `at` to the first EOF, as calamine's record reader walks them.
    let data = &data[..];
    let records = |at: usize| {
        let mut at = at;
        std::iter::from_fn(move || {
            if at + 4 > data.len() {
                return None;
            }
            let kind = u16_at(data, at);
            let len = u16_at(data, at + 2) as usize;
            let body = data.get(at + 4..at + 4 + len)?;
            at += 4 + len;
            Some((kind, body))
        })
    };
    let sheets: Vec<usize> = records(0)
        .take_while(|(kind, _)| *kind != 0x000A)
        .filter(|(kind, body)| *kind == 0x0085 && body.len() >= 4)
        .map(|(_, body)| u32_at(body, 0) as usize)
        .collect();
    let mut cells = 0u64;
    for pos in sheets {
        let mut extent: Option<(u32, u32, u32, u32)> = None;
        let mut seen_bof = false;
        for (kind, body) in records(pos) {
            match kind {
                0x0809 if !seen_bof => seen_bof = true,
                0x000A => break,
                // DIMENSIONS, read as calamine reads it: it reserves rows × columns cells.
                0x0200 if matches!(body.len(), 10 | 14 | 16) => {
                    let (rf, rl, cf, cl) = if body.len() == 10 {
                        (u16_at(body, 0), u16_at(body, 2), u16_at(body, 4), u16_at(body, 6))
                    } else {
                        (u32_at(body, 0), u32_at(body, 4), u16_at(body, 8), u16_at(body, 10))
                    };
                    let cf = if cf > 0xFF || cl < cf { 0 } else { cf };
                    let (end_r, end_c) = if rl >= 1 && cl >= 1 { (rl - 1, cl - 1) } else { (rf, cf) };
                    if end_r < rf || end_c < cf {
                        return Err(bomb(format!("a sheet declares impossible dimensions {rf}-{rl} × {cf}-{cl}")));
                    }
                    cells += (u64::from(end_r - rf) + 1) * (u64::from(end_c - cf) + 1);
                }
                // Cell records begin with row and column: NUMBER, LABEL, BOOLERR, RK, LABELSST,
                // FORMULA, RSTRING and MULRK (whose last column ends the record).
                0x0203 | 0x0204 | 0x0205 | 0x027E | 0x00FD | 0x0006 | 0x00D6 | 0x00BD if body.len() >= 4 => {
                    let (row, col) = (u16_at(body, 0), u16_at(body, 2));
                    let last =
                        if kind == 0x00BD && body.len() >= 6 { u16_at(body, body.len() - 2).max(col) } else { col };
                    let e = extent.get_or_insert((row, row, col, last));
                    *e = (e.0.min(row), e.1.max(row), e.2.min(col), e.3.max(last));
                }
                _ => {}
            }
            if cells > MAX_XLS_CELLS {
                break;
            }
        }
        if let Some((r0, r1, c0, c1)) = extent {
            cells += u64::from(r1 - r0 + 1) * u64::from(c1 - c0 + 1);
        }
        if cells > MAX_XLS_CELLS {
            return Err(bomb(format!("the sheets span more than {MAX_XLS_CELLS} cells")));
        }
    }
    Ok(())
}

fn xls_rows(bytes: &[u8], rows: &mut Rows) -> Result<(), CcError> {
    check_xls(bytes)?;
    use calamine::Reader;
    let mut book = calamine::Xls::new(Cursor::new(bytes)).map_err(|e| not_a(".xls", e))?;
    let first = book.sheet_names().first().cloned().ok_or_else(|| not_a(".xls", "no sheet"))?;
    let range = book.worksheet_range(&first).map_err(|e| not_a(".xls", e))?;
    let mut sheet = SheetRows::default();
    for (r, c, value) in range.used_cells() {
        let (row, col) = (range.start().map_or(0, |s| s.0) + r as u32, range.start().map_or(0, |s| s.1) + c as u32);
        sheet.put(row, col, cell_text(value))?;
    }
    sheet.into_rows(rows)
}

/// Where a tenant's files are kept: its corp id when that is a plain code, else its numeric id.
fn tenant_dir(dir: &Path, tenant: &Tenant) -> PathBuf {
    let corp = &tenant.corp_id;
    let plain = !corp.is_empty() && corp.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    dir.join(if plain { corp.clone() } else { format!("t{}", tenant.id.0) })
}

/// A storage failure: the API answers it as an internal fault (and logs it).
fn io_error(what: &str, e: std::io::Error) -> CcError {
    CcError::Store(StoreError::Invalid(format!("number file storage, {what}: {e}")))
}

fn not_found(name: &str) -> CcError {
    CcError::NotFound(format!("号码文件 {name} (number file {name})"))
}

/// Writes `bytes` to a fresh temporary name in `dir` and makes it durable; returns that path.
fn write_temp(dir: &Path, bytes: &[u8]) -> Result<PathBuf, CcError> {
    std::fs::create_dir_all(dir).map_err(|e| io_error("creating its folder", e))?;
    let temp = dir.join(format!(".upload-{}", crate::secrets::new_stream_id()));
    let written = (|| {
        let mut f = std::fs::OpenOptions::new().write(true).create_new(true).open(&temp)?;
        f.write_all(bytes)?;
        f.sync_all()
    })();
    if let Err(e) = written {
        let _ = std::fs::remove_file(&temp);
        return Err(io_error("writing", e));
    }
    Ok(temp)
}

/// Renames the temporary file to its final name and makes the rename durable.
fn settle(temp: &Path, target: &Path) -> std::io::Result<()> {
    std::fs::rename(temp, target)?;
    if let Some(parent) = target.parent() {
        std::fs::File::open(parent)?.sync_all()?;
    }
    Ok(())
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T, CcError> + Send + 'static) -> Result<T, CcError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| CcError::Store(StoreError::Invalid(format!("number file work stopped: {e}"))))?
}

impl Services {
    /// Reads the numbers of an uploaded file off the async threads (spreadsheets take a while).
    pub async fn parse_number_file(&self, name: &str, bytes: Vec<u8>) -> Result<NumberList, CcError> {
        let name = name.to_string();
        blocking(move || parse(&name, &bytes)).await
    }

    /// Keeps an uploaded file as `name` once it has proved to hold numbers; `Conflict` when a live
    /// file already has the name. Returns the record and what was read.
    pub async fn upload_number_file(
        &self,
        tenant: &Tenant,
        dir: &Path,
        name: &str,
        bytes: Vec<u8>,
    ) -> Result<(StoredNumberFile, NumberList), CcError> {
        check_name(name)?;
        if bytes.len() > MAX_FILE_BYTES {
            return Err(too_big(bytes.len()));
        }
        if self.db.number_file(tenant.id, name).await?.is_some() {
            return Err(CcError::Conflict(format!(
                "号码文件 {name} 已存在，请先删除或改名 (number file {name} exists; delete or rename it first)"
            )));
        }
        let (list, bytes) = {
            let name = name.to_string();
            blocking(move || parse(&name, &bytes).map(|l| (l, bytes))).await?
        };
        let folder = tenant_dir(dir, tenant);
        let size = bytes.len() as i64;
        let temp = {
            let folder = folder.clone();
            blocking(move || write_temp(&folder, &bytes)).await?
        };
        let now = self.now_ms();
        let id = match self.db.insert_number_file(tenant.id, name, name, size, list.numbers.len() as i64, now).await {
            Ok(id) => id,
            Err(e) => {
                let _ = std::fs::remove_file(&temp);
                return Err(e.into());
            }
        };
        let target = folder.join(id.to_string());
        let settled = blocking(move || {
            settle(&temp, &target).map_err(|e| {
                let _ = std::fs::remove_file(&temp);
                io_error("storing", e)
            })
        })
        .await;
        if let Err(e) = settled {
            self.db.delete_number_file(tenant.id, id, now).await?;
            return Err(e);
        }
        let stored = self.db.number_file(tenant.id, name).await?.ok_or_else(|| not_found(name))?;
        Ok((stored, list))
    }

    /// The live file called `name`, or `NotFound`.
    pub async fn number_file(&self, tenant: &Tenant, name: &str) -> Result<StoredNumberFile, CcError> {
        self.db.number_file(tenant.id, name).await?.ok_or_else(|| not_found(name))
    }

    /// Live files whose name contains `text` (all when `None`), newest first, at most `limit`.
    pub async fn number_files(
        &self,
        tenant: &Tenant,
        text: Option<&str>,
        limit: i64,
    ) -> Result<Vec<StoredNumberFile>, CcError> {
        Ok(self.db.number_files(tenant.id, text, limit).await?)
    }

    /// The live file `name` and its bytes.
    pub async fn number_file_bytes(
        &self,
        tenant: &Tenant,
        dir: &Path,
        name: &str,
    ) -> Result<(StoredNumberFile, Vec<u8>), CcError> {
        let file = self.number_file(tenant, name).await?;
        let path = tenant_dir(dir, tenant).join(file.id.to_string());
        match tokio::fs::read(&path).await {
            Ok(bytes) => Ok((file, bytes)),
            // The row outlived its bytes (removed by hand): the file is gone.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(not_found(name)),
            Err(e) => Err(io_error("reading", e)),
        }
    }

    /// The numbers of the live file `name` (a task's `remoteFileName`).
    pub async fn number_file_numbers(&self, tenant: &Tenant, dir: &Path, name: &str) -> Result<NumberList, CcError> {
        let (file, bytes) = self.number_file_bytes(tenant, dir, name).await?;
        self.parse_number_file(&file.name, bytes).await
    }

    /// Renames the live file `name`; the new name must keep the format's extension.
    pub async fn rename_number_file(&self, tenant: &Tenant, name: &str, new_name: &str) -> Result<(), CcError> {
        let file = self.number_file(tenant, name).await?;
        let format = check_name(new_name)?;
        if Format::of(&file.name) != Some(format) {
            return Err(invalid(format!(
                "新文件名 {new_name} 必须保留原扩展名 (the new name {new_name} must keep the extension of {name})"
            )));
        }
        if new_name == file.name {
            return Ok(());
        }
        if !self.db.rename_number_file(tenant.id, file.id, new_name, self.now_ms()).await.map_err(|e| match e {
            StoreError::Conflict(_) => {
                CcError::Conflict(format!("号码文件 {new_name} 已存在 (number file {new_name} exists already)"))
            }
            other => other.into(),
        })? {
            return Err(not_found(name));
        }
        Ok(())
    }

    /// Deletes the live file `name`: its record first, then its bytes.
    pub async fn delete_number_file(&self, tenant: &Tenant, dir: &Path, name: &str) -> Result<(), CcError> {
        let file = self.number_file(tenant, name).await?;
        if !self.db.delete_number_file(tenant.id, file.id, self.now_ms()).await? {
            return Err(not_found(name));
        }
        let path = tenant_dir(dir, tenant).join(file.id.to_string());
        if let Err(e) = tokio::fs::remove_file(&path).await
            && e.kind() != std::io::ErrorKind::NotFound
        {
            // The record is gone, so nothing reaches the bytes; they only take space.
            tracing::warn!(path = %path.display(), error = %e, "could not remove a deleted number file");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_text_with_headers_separators_quotes_and_gbk() {
        let list = parse(
            "a.csv",
            "手机号,备注\n13800138000,张三\n\"13800138001\",\"a, \"\"b\"\"\"\nabc,x\n\n13800138000,dup\n".as_bytes(),
        )
        .unwrap();
        assert_eq!(
            list.numbers,
            vec![("13800138000".into(), "张三".into()), ("13800138001".into(), "a, \"b\"".into())]
        );
        assert_eq!((list.rows, list.duplicates, list.rejected_total), (4, 1, 1));
        assert_eq!(list.rejected[0].row, 4);
        let (gbk, _, _) = encoding_rs::GBK.encode("号码\t描述\r\n+8613800138000\t李四\r\n");
        let list = parse("b.CSV", &gbk).unwrap();
        assert_eq!(list.numbers, vec![("+8613800138000".into(), "李四".into())]);
        let list = parse("c.txt", b"\xEF\xBB\xBF138-0013-8000:x\n13900000000\n").unwrap();
        assert_eq!(list.numbers, vec![("13800138000".into(), "x".into()), ("13900000000".into(), String::new())]);
    }

    #[test]
    fn refuses_what_is_not_a_number_list() {
        assert!(parse("a.exe", b"13800138000").is_err());
        assert!(parse("../a.txt", b"13800138000").is_err());
        assert!(parse("a.txt", b"hello\nworld\n").unwrap_err().to_string().contains("no valid number"));
        assert!(parse("a.txt", b"\x00\x01\x02").is_err());
        assert!(parse("a.xlsx", b"PK not really").unwrap_err().to_string().contains(".xlsx"));
        assert!(parse("a.xls", b"not a compound file").unwrap_err().to_string().contains(".xls"));
        let many: String = (0..=MAX_ROWS).map(|i| format!("1{i:010}\n")).collect();
        assert!(parse("a.txt", many.as_bytes()).unwrap_err().to_string().contains("more than"));
    }

    fn zip_with(name: &str, data: &[u8]) -> Vec<u8> {
        let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
        let options = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
        w.start_file(name, options).unwrap();
        w.write_all(data).unwrap();
        w.finish().unwrap().into_inner()
    }

    /// Patches every declared uncompressed size of a one-entry zip, as a forger would.
    fn lie_about_size(bytes: &mut [u8], size: u32) {
        for i in 0..bytes.len().saturating_sub(30) {
            match &bytes[i..i + 4] {
                [0x50, 0x4B, 0x03, 0x04] => bytes[i + 22..i + 26].copy_from_slice(&size.to_le_bytes()),
                [0x50, 0x4B, 0x01, 0x02] => bytes[i + 24..i + 28].copy_from_slice(&size.to_le_bytes()),
                _ => {}
            }
        }
    }

    #[test]
    fn zip_checks_declared_sizes_ratios_and_actual_bytes() {
        let small = zip_with("xl/a.xml", b"<a/>");
        check_zip(&small).unwrap();
        let zeros = vec![0u8; 8 * 1024 * 1024];
        let dense = zip_with("xl/worksheets/sheet1.xml", &zeros);
        assert!(check_zip(&dense).unwrap_err().to_string().contains(":1"));
        let mut lying = dense.clone();
        lie_about_size(&mut lying, 4096);
        let e = check_zip(&lying).unwrap_err().to_string();
        assert!(e.contains("zip bomb") && e.contains("declares"), "{e}");
    }
}
