//! PDF (`lopdf`): the text layer of every page, decoded through each font's encoding and
//! `/ToUnicode` map so subset fonts (LibreOffice, Word) read as text, with the strings of a
//! text-showing operation joined (a key kerned into pieces comes out whole); and every
//! string object in the document (link targets `/URI`, annotations and comments, form
//! values, bookmarks, the document's properties), located as `page 3` or `strings`.
//!
//! Bounds: each page's content is decompressed under what is left of the file's unpacking
//! budget (at most one entry's limit) and charged to it, so a decompression bomb or a page
//! tree of thousands of pages sharing one huge stream stops at the budget with a note;
//! pages past the entry limit are not read; font maps are decompressed at most
//! [`CMAP_LIMIT`] each, for at most [`MAX_FONTS`] fonts per file (beyond, text is taken as
//! single bytes). Streams lopdf decompresses while loading (object streams) are bounded
//! each by one entry's limit.

use crate::{shown, Budget, NoteKind, ScanReport, Scanner};
use lopdf::content::Content;
use lopdf::{DecompressError, Dictionary, Document, Encoding, Error, LoadOptions, Object};
use std::collections::BTreeMap;

/// Most bytes one font's `/ToUnicode` map may decompress to (real ones are kilobytes).
const CMAP_LIMIT: usize = 1024 * 1024;
/// Most fonts whose encodings are resolved in one file.
const MAX_FONTS: usize = 1000;
/// How deep nested arrays and dictionaries are walked for strings.
const MAX_NESTING: usize = 32;

impl Scanner {
    pub(crate) fn scan_pdf(
        &self,
        file: &str,
        part: Option<&str>,
        bytes: &[u8],
        budget: &mut Budget,
        report: &mut ScanReport,
    ) {
        let here = shown(file, part);
        let allowance = self.remaining(budget).min(self.limits.max_entry_bytes);
        let options = LoadOptions {
            max_decompressed_size: Some(usize::try_from(allowance).unwrap_or(usize::MAX)),
            ..LoadOptions::default()
        };
        let document = match Document::load_mem_with_options(bytes, options) {
            Ok(document) => document,
            Err(e) => {
                // Uncompressed text and links are still in the bytes.
                report.note(
                    &here,
                    NoteKind::Error,
                    format!("unreadable PDF (searched as raw bytes): {e}"),
                );
                self.search_binary(file, part, bytes, &mut Vec::new(), report);
                return;
            }
        };
        let strings = self.inner_name(part, "strings");
        self.report_keys(file, Some(&strings), &all_strings(&document), report);

        let pages = document.get_pages();
        if pages.len() > self.limits.max_entries {
            report.note(
                &here,
                NoteKind::Error,
                format!(
                    "{} pages: only the first {} were scanned",
                    pages.len(),
                    self.limits.max_entries
                ),
            );
        }
        let mut fonts = FontCache::default();
        for (number, page_id) in pages.into_iter().take(self.limits.max_entries) {
            let inner = self.inner_name(part, &format!("page {number}"));
            let place = shown(file, Some(&inner));
            let remaining = self.remaining(budget);
            if remaining == 0 {
                report.note(&here, NoteKind::Error, self.pdf_cut(number));
                break;
            }
            let allowance = remaining.min(self.limits.max_entry_bytes);
            let limit = usize::try_from(allowance).unwrap_or(usize::MAX);
            let content = match document.get_page_content_with_limit(page_id, limit) {
                Ok(content) => content,
                Err(Error::Decompress(DecompressError::MemoryLimitExceeded { .. }))
                    if allowance < self.limits.max_entry_bytes =>
                {
                    // Cut by what was left of the file's budget, not by the page itself.
                    budget.unpacked += allowance;
                    report.note(&here, NoteKind::Error, self.pdf_cut(number));
                    break;
                }
                Err(Error::Decompress(DecompressError::MemoryLimitExceeded { .. })) => {
                    budget.unpacked += allowance;
                    report.note(
                        &place,
                        NoteKind::Error,
                        format!(
                            "content unpacks to more than {} MiB (a decompression bomb?): not scanned",
                            allowance / (1024 * 1024)
                        ),
                    );
                    continue;
                }
                Err(e) => {
                    report.note(&place, NoteKind::Error, format!("unreadable page: {e}"));
                    continue;
                }
            };
            budget.unpacked += content.len() as u64;
            let text = page_text(&document, page_id, &content, &mut fonts);
            self.report_keys(file, Some(&inner), &text, report);
        }
    }

    fn pdf_cut(&self, page: u32) -> String {
        format!(
            "more than {} MiB unpacked from this file (a decompression bomb?): pages from {page} on not scanned",
            self.limits.max_unpacked_bytes / (1024 * 1024)
        )
    }
}

/// Fonts' encodings, resolved once per file however many pages use them.
#[derive(Default)]
struct FontCache<'a> {
    /// By the font dictionary's address in the document; `None` if it could not be
    /// resolved within the bounds.
    encodings: BTreeMap<usize, Option<Encoding<'a>>>,
}

impl<'a> FontCache<'a> {
    fn encoding(&mut self, document: &'a Document, font: &'a Dictionary) -> Option<&Encoding<'a>> {
        let id = std::ptr::from_ref(font) as usize;
        if !self.encodings.contains_key(&id) {
            let resolved = (self.encodings.len() < MAX_FONTS)
                .then(|| font.get_font_encoding_with_limit(document, CMAP_LIMIT).ok())
                .flatten();
            self.encodings.insert(id, resolved);
        }
        self.encodings.get(&id).and_then(Option::as_ref)
    }
}

/// The text a page shows: strings of one text-showing operation joined, a space for a wide
/// gap (`TJ` offsets beyond a tenth of an em, as lopdf reads them), a line break at each
/// line move and text block end. Content that does not parse is searched as it is.
fn page_text<'a>(
    document: &'a Document,
    page_id: lopdf::ObjectId,
    content: &[u8],
    fonts: &mut FontCache<'a>,
) -> Vec<u8> {
    let Ok(operations) = Content::decode(content).map(|c| c.operations) else {
        return content.to_vec();
    };
    let page_fonts = document.get_page_fonts(page_id).unwrap_or_default();
    let mut out = Vec::new();
    let mut font: Option<&Dictionary> = None;
    for operation in &operations {
        match operation.operator.as_str() {
            "Tf" => {
                font = operation
                    .operands
                    .first()
                    .and_then(|name| name.as_name().ok())
                    .and_then(|name| page_fonts.get(name).copied());
            }
            "Tj" | "TJ" | "'" | "\"" => {
                if operation.operator != "Tj" && operation.operator != "TJ" {
                    out.push(b'\n');
                }
                let encoding = font.and_then(|f| fonts.encoding(document, f));
                show(&operation.operands, encoding, &mut out);
            }
            "T*" | "Td" | "TD" | "Tm" | "ET" => out.push(b'\n'),
            _ => {}
        }
    }
    out
}

/// Appends the text of a text-showing operation's operands.
fn show(operands: &[Object], encoding: Option<&Encoding<'_>>, out: &mut Vec<u8>) {
    for operand in operands {
        match operand {
            Object::String(bytes, _) => match encoding.map(|e| e.bytes_to_string(bytes)) {
                Some(Ok(text)) => out.extend_from_slice(text.as_bytes()),
                _ => out.extend_from_slice(bytes),
            },
            Object::Array(items) => show(items, encoding, out),
            Object::Integer(gap) if *gap < -100 => out.push(b' '),
            Object::Real(gap) if *gap < -100.0 => out.push(b' '),
            _ => {}
        }
    }
}

/// Every string object in the document, decoded (UTF-16 or PDFDocEncoding), one a line.
fn all_strings(document: &Document) -> Vec<u8> {
    let mut out = Vec::new();
    for object in document.objects.values() {
        collect_strings(object, 0, &mut out);
    }
    out
}

fn collect_strings(object: &Object, nesting: usize, out: &mut Vec<u8>) {
    if nesting > MAX_NESTING {
        return;
    }
    match object {
        Object::String(bytes, _) => {
            match lopdf::decode_text_string(object) {
                Ok(text) => out.extend_from_slice(text.as_bytes()),
                Err(_) => out.extend_from_slice(bytes),
            }
            out.push(b'\n');
        }
        Object::Array(items) => {
            for item in items {
                collect_strings(item, nesting + 1, out);
            }
        }
        Object::Dictionary(dictionary) => collect_dictionary(dictionary, nesting, out),
        Object::Stream(stream) => collect_dictionary(&stream.dict, nesting, out),
        _ => {}
    }
}

fn collect_dictionary(dictionary: &Dictionary, nesting: usize, out: &mut Vec<u8>) {
    for (_, value) in dictionary.iter() {
        collect_strings(value, nesting + 1, out);
    }
}
