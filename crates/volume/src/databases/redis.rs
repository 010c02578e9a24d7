//! Redis: before the volume holding its RDB file is backed up, ask the server for a fresh
//! snapshot (`BGSAVE`) and wait until `LASTSAVE` moves, so the file on disk is complete
//! and current. Speaks just enough RESP over TCP for three commands.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use super::{DatabaseError, redacted_target};

/// How long to wait for the background save.
pub const SAVE_TIMEOUT: Duration = Duration::from_secs(300);

struct Conn {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
    target: String,
}

impl Conn {
    fn err(&self, message: impl std::fmt::Display) -> DatabaseError {
        DatabaseError::Redis {
            target: self.target.clone(),
            message: message.to_string(),
        }
    }

    fn open(url: &str) -> Result<Conn, DatabaseError> {
        let target = redacted_target(url);
        let rest = url.strip_prefix("redis://").unwrap_or(url);
        let password = rest
            .rsplit_once('@')
            .and_then(|(auth, _)| auth.rsplit(':').next())
            .filter(|p| !p.is_empty());
        let addr = if target.contains(':') {
            target.clone()
        } else {
            format!("{target}:6379")
        };
        let fail = |m: String| DatabaseError::Redis {
            target: target.clone(),
            message: m,
        };
        let stream = TcpStream::connect(&addr).map_err(|e| fail(format!("cannot connect: {e}")))?;
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .map_err(|e| fail(e.to_string()))?;
        let writer = stream.try_clone().map_err(|e| fail(e.to_string()))?;
        let mut conn = Conn {
            reader: BufReader::new(stream),
            writer,
            target,
        };
        if let Some(pw) = password {
            conn.command(&["AUTH", pw])?;
        }
        Ok(conn)
    }

    fn command(&mut self, args: &[&str]) -> Result<String, DatabaseError> {
        let mut req = format!("*{}\r\n", args.len());
        for a in args {
            req.push_str(&format!("${}\r\n{a}\r\n", a.len()));
        }
        self.writer
            .write_all(req.as_bytes())
            .map_err(|e| self.err(e))?;
        let mut line = String::new();
        self.reader.read_line(&mut line).map_err(|e| self.err(e))?;
        let line = line.trim_end().to_string();
        match line.split_at_checked(1) {
            Some(("+" | ":", v)) => Ok(v.to_string()),
            Some(("-", e)) => Err(self.err(format!("{} refused: {e}", args[0]))),
            _ => Err(self.err(format!("unexpected reply to {}: {line:?}", args[0]))),
        }
    }
}

/// Triggers `BGSAVE` and waits (polling `LASTSAVE` with a deadline) until the server has
/// written a new RDB file.
pub fn bgsave(url: &str) -> Result<(), DatabaseError> {
    let mut conn = Conn::open(url)?;
    let before = conn.command(&["LASTSAVE"])?;
    match conn.command(&["BGSAVE"]) {
        Ok(_) => {}
        Err(e) if e.to_string().contains("already in progress") => {}
        Err(e) => return Err(e),
    }
    let deadline = Instant::now() + SAVE_TIMEOUT;
    let mut wait = Duration::from_millis(20);
    loop {
        if conn.command(&["LASTSAVE"])? != before {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(conn.err("BGSAVE did not finish within 300 s"));
        }
        std::thread::sleep(wait);
        wait = (wait * 2).min(Duration::from_millis(500));
    }
}
