//! Reading a socket's waiting datagrams with one `recvmmsg` call. The standard library reads one
//! datagram per call, so emptying a socket always took one more call that failed with
//! `WouldBlock`; a batch that comes back short of full tells the same without that call.

use std::io;
use std::mem::{size_of, zeroed};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::fd::AsRawFd;

/// Datagrams read per call.
pub(crate) const BATCH: usize = 8;
/// Room for one datagram (RTP over Ethernet fits with plenty to spare).
const ROOM: usize = 2048;

/// Buffers for one batch, reused from call to call.
pub(crate) struct RecvBatch {
    bufs: Box<[[u8; ROOM]; BATCH]>,
    addrs: [libc::sockaddr_storage; BATCH],
    iovs: [libc::iovec; BATCH],
    msgs: [libc::mmsghdr; BATCH],
}

impl RecvBatch {
    pub(crate) fn new() -> RecvBatch {
        // SAFETY: these are plain C structs for which all-zero bytes are a valid value (null
        // pointers, zero lengths); `recv` points them at the buffers before every use.
        unsafe { RecvBatch { bufs: Box::new([[0; ROOM]; BATCH]), addrs: zeroed(), iovs: zeroed(), msgs: zeroed() } }
    }

    /// Reads up to [`BATCH`] datagrams without blocking; how many came. Fewer than `BATCH`
    /// means the socket is empty now.
    pub(crate) fn recv(&mut self, socket: &impl AsRawFd) -> io::Result<usize> {
        // The pointers are set here, not in `new`, so they are right wherever `self` has moved.
        for i in 0..BATCH {
            self.iovs[i] = libc::iovec { iov_base: self.bufs[i].as_mut_ptr().cast(), iov_len: ROOM };
            let hdr = &mut self.msgs[i].msg_hdr;
            hdr.msg_name = (&mut self.addrs[i] as *mut libc::sockaddr_storage).cast();
            hdr.msg_namelen = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
            hdr.msg_iov = &mut self.iovs[i];
            hdr.msg_iovlen = 1;
            hdr.msg_control = std::ptr::null_mut();
            hdr.msg_controllen = 0;
            hdr.msg_flags = 0;
            self.msgs[i].msg_len = 0;
        }
        // SAFETY: every header points at live buffers of the sizes given, owned by `self`,
        // which is borrowed mutably for the whole call; the fd is open while `socket` lives.
        let n = unsafe {
            libc::recvmmsg(
                socket.as_raw_fd(),
                self.msgs.as_mut_ptr(),
                BATCH as libc::c_uint,
                libc::MSG_DONTWAIT,
                std::ptr::null_mut(),
            )
        };
        if n < 0 { Err(io::Error::last_os_error()) } else { Ok(n as usize) }
    }

    /// The `i`th datagram of the last batch and its source (`None` for a family other than IP).
    pub(crate) fn get(&self, i: usize) -> (&[u8], Option<SocketAddr>) {
        let len = (self.msgs[i].msg_len as usize).min(ROOM);
        (&self.bufs[i][..len], source(&self.addrs[i]))
    }
}

fn source(addr: &libc::sockaddr_storage) -> Option<SocketAddr> {
    match i32::from(addr.ss_family) {
        libc::AF_INET => {
            // SAFETY: the kernel wrote a sockaddr_in, which fits in sockaddr_storage and needs
            // no stricter alignment.
            let a = unsafe { &*(addr as *const libc::sockaddr_storage).cast::<libc::sockaddr_in>() };
            let ip = Ipv4Addr::from(u32::from_be(a.sin_addr.s_addr));
            Some(SocketAddr::V4(SocketAddrV4::new(ip, u16::from_be(a.sin_port))))
        }
        libc::AF_INET6 => {
            // SAFETY: as above, for sockaddr_in6.
            let a = unsafe { &*(addr as *const libc::sockaddr_storage).cast::<libc::sockaddr_in6>() };
            let ip = Ipv6Addr::from(a.sin6_addr.s6_addr);
            Some(SocketAddr::V6(SocketAddrV6::new(ip, u16::from_be(a.sin6_port), a.sin6_flowinfo, a.sin6_scope_id)))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::UdpSocket;

    #[test]
    fn reads_what_waits_and_says_when_empty() {
        let rx = UdpSocket::bind("127.0.0.1:0").unwrap();
        let tx = UdpSocket::bind("127.0.0.1:0").unwrap();
        let to = rx.local_addr().unwrap();
        for i in 0..BATCH + 3 {
            tx.send_to(&[i as u8; 3], to).unwrap();
        }
        let mut batch = RecvBatch::new();
        assert_eq!(batch.recv(&rx).unwrap(), BATCH);
        assert_eq!(batch.get(1), (&[1u8; 3][..], Some(tx.local_addr().unwrap())));
        assert_eq!(batch.recv(&rx).unwrap(), 3);
        assert_eq!(batch.get(2).0, &[BATCH as u8 + 2; 3]);
        assert_eq!(batch.recv(&rx).unwrap_err().kind(), io::ErrorKind::WouldBlock);
        let v6 = UdpSocket::bind("[::1]:0");
        if let Ok(v6) = v6 {
            let from = UdpSocket::bind("[::1]:0").unwrap();
            // Loopback delivers inside the sending call, as for the IPv4 datagrams above.
            from.send_to(b"x", v6.local_addr().unwrap()).unwrap();
            assert_eq!(batch.recv(&v6).unwrap(), 1);
            assert_eq!(batch.get(0), (&b"x"[..], Some(from.local_addr().unwrap())));
        }
    }
}
