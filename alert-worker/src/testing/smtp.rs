//! A plain SMTP server on 127.0.0.1 that speaks just enough of RFC 5321
//! (EHLO, MAIL, RCPT, DATA, RSET, NOOP, QUIT) to receive a message, records
//! each one, and can be told to refuse a recipient or the message.

use std::{
    net::SocketAddr,
    sync::{Arc, Mutex},
};

use base64::{Engine, engine::general_purpose::STANDARD};
use tokio::{
    io::{AsyncBufReadExt, AsyncWriteExt, BufReader},
    net::{
        TcpListener, TcpStream,
        tcp::{OwnedReadHalf, OwnedWriteHalf},
    },
    task::JoinHandle,
};

/// One message as received: the envelope and the raw content.
#[derive(Debug, Clone, Default)]
pub struct Mail {
    pub helo: String,
    pub from: String,
    pub to: Vec<String>,
    /// The content after DATA, dot-stuffing undone, CRLF line ends.
    pub data: String,
}

impl Mail {
    /// A header of the message (the first one, unfolded).
    pub fn header(&self, name: &str) -> Option<String> {
        let head = self.data.split("\r\n\r\n").next()?;
        let mut value: Option<String> = None;
        for line in head.split("\r\n") {
            if let Some(current) = value.as_mut() {
                if line.starts_with([' ', '\t']) {
                    current.push_str(line);
                    continue;
                }
                break;
            }
            if let Some((key, rest)) = line.split_once(':')
                && key.eq_ignore_ascii_case(name)
            {
                value = Some(rest.trim().to_owned());
            }
        }
        value
    }

    /// The decoded body of the MIME part whose type starts with
    /// `content_type` (`text/plain`, `text/html`).
    pub fn part(&self, content_type: &str) -> Option<String> {
        let top = self.header("Content-Type")?;
        let boundary = top.split("boundary=").nth(1)?.trim_matches('"').to_owned();
        self.data
            .split(&format!("--{boundary}"))
            .filter_map(|part| part.trim_start_matches("\r\n").split_once("\r\n\r\n"))
            .find_map(|(head, body)| {
                let part = Mail {
                    data: format!("{head}\r\n\r\n"),
                    ..Mail::default()
                };
                let kind = part.header("Content-Type")?;
                if !kind.starts_with(content_type) {
                    return None;
                }
                let encoding = part
                    .header("Content-Transfer-Encoding")
                    .unwrap_or_default()
                    .to_ascii_lowercase();
                let body = body.trim_end_matches("\r\n");
                Some(match encoding.as_str() {
                    "quoted-printable" => quoted_printable(body),
                    "base64" => {
                        let compact: String = body.split_whitespace().collect();
                        String::from_utf8(STANDARD.decode(compact).ok()?).ok()?
                    }
                    _ => body.to_owned(),
                })
            })
    }
}

/// RFC 2045 quoted-printable: `=XX` is a byte, `=` at a line end joins lines.
fn quoted_printable(body: &str) -> String {
    let joined = body.replace("=\r\n", "");
    let bytes = joined.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'=', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Answers to give instead of `250`.
#[derive(Debug, Clone, Default)]
pub struct SmtpScript {
    pub rcpt: Option<String>,
    pub data_end: Option<String>,
}

pub struct SmtpServer {
    pub addr: SocketAddr,
    mails: Arc<Mutex<Vec<Mail>>>,
    server: JoinHandle<()>,
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl SmtpServer {
    pub async fn start(script: SmtpScript) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let mails = Arc::new(Mutex::new(Vec::new()));
        let shared = mails.clone();
        let server = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(session(stream, script.clone(), shared.clone()));
            }
        });
        Self {
            addr,
            mails,
            server,
        }
    }

    pub fn mails(&self) -> Vec<Mail> {
        self.mails.lock().unwrap().clone()
    }
}

async fn session(stream: TcpStream, script: SmtpScript, mails: Arc<Mutex<Vec<Mail>>>) {
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read);
    if !reply(&mut write, "220 test.invalid ESMTP ready").await {
        return;
    }
    let mut mail = Mail::default();
    let mut line = String::new();
    loop {
        line.clear();
        match lines.read_line(&mut line).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let command = line.trim_end_matches(['\r', '\n']);
        let verb = command
            .split_whitespace()
            .next()
            .unwrap_or_default()
            .to_ascii_uppercase();
        let argument = |prefix: &str| {
            command[prefix.len().min(command.len())..]
                .trim()
                .trim_start_matches('<')
                .split('>')
                .next()
                .unwrap_or_default()
                .to_owned()
        };
        let answer = match verb.as_str() {
            "EHLO" | "HELO" => {
                mail.helo = command[4..].trim().to_owned();
                "250 test.invalid greets you".to_owned()
            }
            "MAIL" => {
                mail.from = argument("MAIL FROM:");
                "250 2.1.0 sender ok".to_owned()
            }
            "RCPT" => match &script.rcpt {
                Some(refusal) => refusal.clone(),
                None => {
                    mail.to.push(argument("RCPT TO:"));
                    "250 2.1.5 recipient ok".to_owned()
                }
            },
            "DATA" => {
                if !reply(&mut write, "354 end data with <CR><LF>.<CR><LF>").await {
                    return;
                }
                let Some(data) = read_data(&mut lines).await else {
                    return;
                };
                mail.data = data;
                match &script.data_end {
                    Some(refusal) => refusal.clone(),
                    None => {
                        mails.lock().unwrap().push(std::mem::take(&mut mail));
                        "250 2.0.0 queued as 1".to_owned()
                    }
                }
            }
            "RSET" => {
                mail = Mail {
                    helo: mail.helo.clone(),
                    ..Mail::default()
                };
                "250 2.0.0 ok".to_owned()
            }
            "NOOP" => "250 2.0.0 ok".to_owned(),
            "QUIT" => {
                reply(&mut write, "221 2.0.0 bye").await;
                return;
            }
            _ => "502 5.5.2 command not recognised".to_owned(),
        };
        if !reply(&mut write, &answer).await {
            return;
        }
    }
}

async fn reply(write: &mut OwnedWriteHalf, text: &str) -> bool {
    write
        .write_all(format!("{text}\r\n").as_bytes())
        .await
        .is_ok()
}

/// The message up to the lone `.`, with leading dots unstuffed.
async fn read_data(lines: &mut BufReader<OwnedReadHalf>) -> Option<String> {
    let mut data = String::new();
    let mut line = String::new();
    loop {
        line.clear();
        if lines.read_line(&mut line).await.ok()? == 0 {
            return None;
        }
        let content = line.trim_end_matches(['\r', '\n']);
        if content == "." {
            return Some(data);
        }
        data.push_str(content.strip_prefix('.').unwrap_or(content));
        data.push_str("\r\n");
    }
}
