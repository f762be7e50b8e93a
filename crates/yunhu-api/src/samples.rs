//! Call records of every shape, for the tests that hold the typed listings to the bytes the
//! `serde_json::Value` spelling gave.

use std::collections::{BTreeMap, HashMap};
use yunhu_cc::calls::{RosterEntry, StoredCallRecord};
use yunhu_core::call::{ALL_METHODS, CallRecord, Cause, HangupSide, LegTimes};

/// A deterministic spread of records: each field drawn on its own, so combinations vary.
pub(crate) fn records(n: usize) -> Vec<StoredCallRecord> {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut pick = move |k: usize| {
        x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        ((x >> 33) as usize) % k
    };
    let causes = [
        None,
        Some(Cause::NormalClearing),
        Some(Cause::UserBusy),
        Some(Cause::NoAnswer),
        Some(Cause::OriginatorCancel),
        Some(Cause::UnallocatedNumber),
        Some(Cause::CallRejected),
        Some(Cause::NormalTemporaryFailure),
        Some(Cause::RecoveryOnTimerExpire),
        Some(Cause::SubscriberAbsent),
    ];
    let sides = [None, Some(HangupSide::Agent), Some(HangupSide::Customer), Some(HangupSide::System)];
    let texts = ["", "x", "引号\"和\\反斜杠", "\u{1}\t控制", "</b>&amp;"];
    (0..n)
        .map(|i| {
            // Around 2026, the epoch, and before it.
            let base = [1_767_196_800_000_i64, 0, -86_400_123][pick(3)] + pick(1_000_000) as i64 * 997;
            let mut at = |present: usize| (pick(present) != 0).then(|| base + pick(90_000) as i64);
            let agent = LegTimes { start: at(4), ring: at(3), answer: at(2), end: at(4) };
            let customer_leg = LegTimes { start: at(4), ring: at(3), answer: at(2), end: at(4) };
            let (ivr_start, ivr_end, queue_start, queue_end) = (at(3), at(4), at(3), at(4));
            let mut call_data = BTreeMap::new();
            for (key, value) in [("userid", "u1"), ("codeid_1", "旧"), ("memberid", "m\"2"), ("a", ""), ("zz", "中文")]
            {
                if pick(3) == 0 {
                    call_data.insert(key.to_string(), value.to_string());
                }
            }
            let record = CallRecord {
                direction: ["outbound", "inbound", "internal"][pick(3)].into(),
                staff: ["1001", "1002", "ghost", ""][pick(4)].into(),
                extension: ["1001", "", "8002"][pick(3)].into(),
                customer: ["13812345678", "02088886666", "", "abc\"", "+8613900001111"][pick(5)].into(),
                caller_id: ["53541815", "", texts[pick(texts.len())]][pick(3)].into(),
                trunk: "carrier".into(),
                agent,
                customer_leg,
                ring_secs: pick(40) as i64,
                talk_secs: [0, 54, 3601][pick(3)],
                bill_secs: pick(100) as i64,
                cause: causes[pick(causes.len())],
                hangup_side: sides[pick(sides.len())],
                recording: ["", "777777/2026/a b.wav", texts[pick(texts.len())]][pick(3)].into(),
                recording_repaired: pick(2) == 0,
                codeid_1: ["", "c1", texts[pick(texts.len())]][pick(3)].into(),
                codeid_2: ["", "c\"2"][pick(2)].into(),
                method: ALL_METHODS[pick(ALL_METHODS.len())],
                task_id: ["", "T1", texts[pick(texts.len())]][pick(3)].into(),
                call_data,
                digits: ["", "1", "12#", "9中", texts[pick(texts.len())]][pick(5)].into(),
                transferred_to: Vec::new(),
                holds: 0,
                ivr_name: ["", "主菜单", texts[pick(texts.len())]][pick(3)].into(),
                ivr_digits: ["", "1", "2#"][pick(3)].into(),
                ivr_last_node: ["", "sales", texts[pick(texts.len())]][pick(3)].into(),
                ivr_start,
                ivr_end,
                // 8000 is named in `queue_names`, 9100 is not (a skill group deleted since).
                queue: ["", "8000", "9100", texts[pick(texts.len())]][pick(4)].into(),
                queue_start,
                queue_end,
                queue_outcome: ["", "answered", "abandoned", "overflowed", "callback", "voicemail", "timeout"][pick(7)]
                    .into(),
                satisfaction: [None, Some(0), Some(1), Some(3), Some(5)][pick(5)],
            };
            StoredCallRecord {
                id: [1, 9_999_999, i64::from(i as u32)][pick(3)],
                call_id: texts[pick(5)].to_string() + "c",
                record,
            }
        })
        .collect()
}

/// An inbound call through IVR `main` (keys 1 then 2, last node `sales`) into skill group
/// 8000, answered by 1002 after 12.9 s in the queue, rated 4; times in ms UTC.
pub(crate) fn inbound() -> StoredCallRecord {
    let t0 = 1_767_196_800_000; // 2026-01-01 00:00:00 +08:00 is 2025-12-31 16:00 UTC.
    let record = CallRecord {
        direction: "inbound".into(),
        method: yunhu_core::call::CallMethod::Inbound,
        staff: "1002".into(),
        extension: "1002".into(),
        customer: "13600136000".into(),
        caller_id: "13600136000".into(),
        customer_leg: LegTimes { start: Some(t0), ring: None, answer: Some(t0 + 500), end: Some(t0 + 60_000) },
        agent: LegTimes {
            start: Some(t0 + 14_000),
            ring: Some(t0 + 14_100),
            answer: Some(t0 + 16_000),
            end: Some(t0 + 60_000),
        },
        talk_secs: 59,
        digits: "912".into(),
        ivr_name: "main".into(),
        ivr_digits: "12".into(),
        ivr_last_node: "sales".into(),
        ivr_start: Some(t0 + 500),
        ivr_end: Some(t0 + 3_100),
        queue: "8000".into(),
        queue_start: Some(t0 + 3_100),
        queue_end: Some(t0 + 16_000),
        queue_outcome: "answered".into(),
        satisfaction: Some(4),
        ..Default::default()
    };
    StoredCallRecord { id: 7, call_id: "c7".into(), record }
}

/// The staff the records name: one with 手机随行, one without; `ghost` is on no roster.
pub(crate) fn roster() -> Vec<RosterEntry> {
    vec![
        RosterEntry {
            user_code: "1001".into(),
            agent_id: "1001".into(),
            name: "张三".into(),
            phone_take_along: true,
            queues: Vec::new(),
            skills: Default::default(),
            priority: 0,
        },
        RosterEntry {
            user_code: "1002".into(),
            agent_id: "1002".into(),
            name: "李\"四".into(),
            phone_take_along: false,
            queues: Vec::new(),
            skills: Default::default(),
            priority: 0,
        },
    ]
}

/// Skill group names by code, as the records name them.
pub(crate) fn queue_names() -> BTreeMap<String, String> {
    [("8000", "售后"), ("x", "引号\"组")].into_iter().map(|(c, n)| (c.to_string(), n.to_string())).collect()
}

/// Names by account, as [`roster`].
pub(crate) fn names() -> HashMap<String, String> {
    roster().into_iter().map(|m| (m.user_code, m.name)).collect()
}
