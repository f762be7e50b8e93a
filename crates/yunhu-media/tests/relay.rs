//! A media session between two UDP "phones" on loopback: relay both ways, transcoding, latching,
//! DTMF, and a stereo recording with each direction on its channel.

use std::net::SocketAddr;
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use yunhu_media::g711::Codec;
use yunhu_media::ports::PortPool;
use yunhu_media::relay::{LegId, LegMedia, MediaEvent, MediaSession};
use yunhu_media::rtp::RtpPacket;

fn packet(pt: u8, seq: u16, ts: u32, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    RtpPacket { payload_type: pt, marker: false, sequence: seq, timestamp: ts, ssrc: 42, payload }.write(&mut out);
    out
}

async fn recv(sock: &UdpSocket) -> Vec<u8> {
    let mut buf = [0u8; 2048];
    let (n, _) = tokio::time::timeout(std::time::Duration::from_secs(2), sock.recv_from(&mut buf))
        .await
        .expect("packet")
        .unwrap();
    buf[..n].to_vec()
}

#[tokio::test]
async fn relays_transcodes_detects_dtmf_and_records_both_directions() {
    let pool = PortPool::new(42000, 42100);
    let ip = "127.0.0.1".parse().unwrap();
    let (tx, mut events) = mpsc::unbounded_channel();
    let session = MediaSession::open(&pool, ip, tx).unwrap();
    let agent = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let customer = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    // The customer's SDP names a wrong port: latching on its packets must fix that.
    let wrong: SocketAddr = "127.0.0.1:9".parse().unwrap();
    session
        .set_remote(
            LegId::A,
            LegMedia { remote: agent.local_addr().unwrap(), codec: Codec::Pcmu, telephone_event: Some(101) },
        )
        .await;
    session.set_remote(LegId::B, LegMedia { remote: wrong, codec: Codec::Pcma, telephone_event: Some(96) }).await;
    let dir = std::env::temp_dir().join(format!("yunhu-relay-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let path = dir.join("call.wav");
    session.record(path.clone(), LegId::B).await;

    let to_a = session.local_addr(LegId::A);
    let to_b = session.local_addr(LegId::B);
    let loud_ulaw = Codec::Pcmu.encode(8000);
    let quiet_alaw = Codec::Pcma.encode(-3000);
    for i in 0..25u16 {
        let ts = 160 * u32::from(i);
        customer.send_to(&packet(8, i, ts, &[quiet_alaw; 160]), to_b).await.unwrap();
        let at_agent = recv(&agent).await;
        let p = RtpPacket::parse(&at_agent).unwrap();
        assert_eq!((p.payload_type, p.sequence, p.payload.len()), (0, i, 160), "PCMA→PCMU for the agent");
        let sample = Codec::Pcmu.decode(p.payload[0]);
        assert!((sample + 3000).abs() < 200, "{sample}");

        agent.send_to(&packet(0, i, ts, &[loud_ulaw; 160]), to_a).await.unwrap();
        let at_customer = recv(&customer).await;
        assert_eq!(RtpPacket::parse(&at_customer).unwrap().payload_type, 8, "sent to the latched address");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    // Digit 7 from the agent, three packets of one event: one report, forwarded with the other leg's PT.
    for end in [0u8, 0x80, 0x80] {
        agent.send_to(&packet(101, 100, 99_999, &[7, end | 10, 0, 160]), to_a).await.unwrap();
        assert_eq!(RtpPacket::parse(&recv(&customer).await).unwrap().payload_type, 96);
    }
    assert_eq!(events.recv().await, Some(MediaEvent::RecordingOpened), "opened at the first packet");
    assert_eq!(events.recv().await, Some(MediaEvent::Dtmf { leg: LegId::A, digit: '7' }));

    let end = session.stop().await;
    let info = end.recording.unwrap().unwrap();
    assert_eq!(end.stats.received, [28, 25]);
    assert_eq!(end.stats.forwarded, [28, 25]);
    let (channels, samples) = yunhu_media::wav::read(&info.path).unwrap();
    assert_eq!(channels, 2);
    assert!(info.frames >= 25 * 160, "{}", info.frames);
    let left: Vec<i16> = samples.iter().step_by(2).copied().collect();
    let right: Vec<i16> = samples.iter().skip(1).step_by(2).copied().collect();
    // Customer (leg B) on the left, quiet and negative; agent on the right, loud and positive.
    assert!(left.iter().filter(|s| (**s + 3000).abs() < 200).count() >= 24 * 160);
    assert!(right.iter().filter(|s| (**s - 8000).abs() < 400).count() >= 24 * 160);
    assert!(!dir.join("call.wav.part").exists());
}
