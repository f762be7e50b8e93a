//! The RTP port range: even ports handed out round-robin, skipping those in use.

use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::sync::Mutex;

/// Hands out UDP sockets on even ports of a configured range.
#[derive(Debug)]
pub struct PortPool {
    first: u16,
    last: u16,
    next: Mutex<u16>,
}

impl PortPool {
    /// A pool over `first..=last` (odd bounds are rounded inwards to even ports). It starts at
    /// a random port of the range, so the ports of the next calls are not known in advance.
    pub fn new(first: u16, last: u16) -> PortPool {
        let first = first + first % 2;
        let span = u64::from(last.saturating_sub(first) / 2 + 1);
        let nanos =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0);
        let start = first + (u64::from(nanos) % span) as u16 * 2;
        PortPool { first, last, next: Mutex::new(start) }
    }

    /// Binds a non-blocking socket on `ip` at the next free even port. A plain socket, not one
    /// of tokio's: the media thread polls it, so registering it with tokio's reactor first would
    /// only cost two more system calls per socket.
    pub fn bind(&self, ip: IpAddr) -> std::io::Result<UdpSocket> {
        let span = (u32::from(self.last.saturating_sub(self.first)) / 2 + 1).max(1);
        for _ in 0..span {
            let port = {
                let mut next = self.next.lock().unwrap_or_else(|e| e.into_inner());
                let p = *next;
                *next = if p.saturating_add(2) > self.last { self.first } else { p + 2 };
                p
            };
            if let Ok(sock) = UdpSocket::bind(SocketAddr::new(ip, port)) {
                sock.set_nonblocking(true)?;
                return Ok(sock);
            }
        }
        Err(std::io::Error::new(std::io::ErrorKind::AddrInUse, "RTP port range exhausted"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hands_out_distinct_even_ports_and_skips_taken_ones() {
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        // Another program may hold some ports of the range; the pool must hand out all the others.
        let free = (41002..=41010).step_by(2).filter(|&p| UdpSocket::bind(SocketAddr::new(ip, p)).is_ok()).count();
        assert!(free >= 2, "the test needs two free ports in 41002-41010");
        let pool = PortPool::new(41001, 41010);
        let a = pool.bind(ip).unwrap();
        let b = pool.bind(ip).unwrap();
        let (pa, pb) = (a.local_addr().unwrap().port(), b.local_addr().unwrap().port());
        assert_ne!(pa, pb);
        assert!(pa % 2 == 0 && pb % 2 == 0 && (41002..=41010).contains(&pa));
        let mut held = vec![a, b];
        while let Ok(s) = pool.bind(ip) {
            held.push(s);
        }
        assert_eq!(held.len(), free);
    }
}
