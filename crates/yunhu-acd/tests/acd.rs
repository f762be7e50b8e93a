//! The ACD's decisions, step by step with the clock passed in: each strategy picks the agent it
//! should, skills route only to skilled agents, a missed offer puts the caller back at its place,
//! callbacks keep their place, overflow, abandoned callers resuming, and the wallboard's figures.

use std::collections::BTreeMap;
use yunhu_acd::{Acd, Agent, Caller, Decision, QueueConfig, Strategy};

fn agent(id: &str, queues: &[&str], idle_since: i64) -> Agent {
    Agent::new(id, queues, idle_since)
}

fn acd_with(strategy: Strategy, agents: Vec<Agent>) -> Acd {
    let mut acd = Acd::default();
    acd.set_queue("q", QueueConfig { strategy, ..Default::default() });
    for a in agents {
        acd.set_agent(a);
    }
    acd
}

fn offered(d: &[Decision]) -> Vec<(String, Vec<String>)> {
    d.iter()
        .filter_map(|d| match d {
            Decision::Offer { caller, agents, .. } => Some((caller.clone(), agents.clone())),
            _ => None,
        })
        .collect()
}

#[test]
fn longest_idle_gets_the_call_when_two_are_ready() {
    let mut acd = acd_with(Strategy::LongestIdle, vec![agent("a", &["q"], 5_000), agent("b", &["q"], 1_000)]);
    acd.enqueue("q", Caller::new("c1", "138", 0, 10_000), 10_000).unwrap();
    assert_eq!(offered(&acd.poll(10_000)), [("c1".to_string(), vec!["b".to_string()])]);
}

#[test]
fn an_agent_is_never_offered_two_callers_at_once() {
    let mut acd = acd_with(Strategy::LongestIdle, vec![agent("a", &["q"], 0)]);
    acd.enqueue("q", Caller::new("c1", "1", 0, 0), 0).unwrap();
    acd.enqueue("q", Caller::new("c2", "2", 0, 1), 1).unwrap();
    assert_eq!(offered(&acd.poll(10)).len(), 1);
    assert!(offered(&acd.poll(20)).is_empty(), "a is reserved for c1");
    acd.answered("q", "c1", "a", 30).unwrap();
    assert!(offered(&acd.poll(40)).is_empty(), "a is on the call");
    acd.set_free("a", true, 50_000);
    assert_eq!(offered(&acd.poll(50_000)), [("c2".to_string(), vec!["a".to_string()])]);
}

#[test]
fn ring_all_rings_every_free_member_and_the_others_are_free_once_one_answers() {
    let agents = vec![agent("a", &["q"], 0), agent("b", &["q"], 0), agent("x", &["other"], 0)];
    let mut acd = acd_with(Strategy::RingAll, agents);
    acd.set_queue("other", QueueConfig::default());
    acd.enqueue("q", Caller::new("c1", "1", 0, 0), 0).unwrap();
    assert_eq!(offered(&acd.poll(0)), [("c1".to_string(), vec!["a".to_string(), "b".to_string()])]);
    acd.answered("q", "c1", "b", 1_000).unwrap();
    acd.enqueue("q", Caller::new("c2", "2", 0, 2_000), 2_000).unwrap();
    assert_eq!(offered(&acd.poll(2_000)), [("c2".to_string(), vec!["a".to_string()])]);
}

#[test]
fn round_robin_takes_turns() {
    let agents = vec![agent("a", &["q"], 0), agent("b", &["q"], 0), agent("c", &["q"], 0)];
    let mut acd = acd_with(Strategy::RoundRobin, agents);
    let mut order = Vec::new();
    for i in 0..4 {
        let id = format!("c{i}");
        acd.enqueue("q", Caller::new(&id, "1", 0, i), i).unwrap();
        let o = offered(&acd.poll(i));
        let who = o[0].1[0].clone();
        acd.answered("q", &id, &who, i).unwrap();
        acd.set_free(&who, true, i);
        order.push(who);
    }
    assert_eq!(order, ["a", "b", "c", "a"]);
}

#[test]
fn fewest_calls_and_least_talk_time_pick_the_least_used() {
    let mut busy = agent("a", &["q"], 0);
    busy.calls = 9;
    let mut fresh = agent("b", &["q"], 100);
    fresh.calls = 1;
    fresh.talk_ms = 900_000;
    let mut acd = acd_with(Strategy::FewestCalls, vec![busy.clone(), fresh.clone()]);
    acd.enqueue("q", Caller::new("c1", "1", 0, 0), 0).unwrap();
    assert_eq!(offered(&acd.poll(0))[0].1, ["b"]);

    busy.talk_ms = 60_000;
    let mut acd = acd_with(Strategy::LeastTalkTime, vec![busy, fresh]);
    acd.enqueue("q", Caller::new("c1", "1", 0, 0), 0).unwrap();
    assert_eq!(offered(&acd.poll(0))[0].1, ["a"]);
}

#[test]
fn skills_route_only_to_skilled_agents_best_level_first() {
    let mut acd = Acd::default();
    acd.set_queue("en", QueueConfig { skill: Some("english".into()), ..Default::default() });
    let skilled = |id: &str, level: Option<u8>, idle: i64| {
        let mut a = agent(id, &["en"], idle);
        if let Some(l) = level {
            a.skills = BTreeMap::from([("english".to_string(), l)]);
        }
        a
    };
    acd.set_agent(skilled("none", None, 0));
    acd.set_agent(skilled("fair", Some(2), 0));
    acd.set_agent(skilled("good", Some(1), 5_000));
    acd.enqueue("en", Caller::new("c1", "1", 0, 10_000), 10_000).unwrap();
    assert_eq!(offered(&acd.poll(10_000))[0].1, ["good"], "level 1 before level 2, though idle for less");
    acd.enqueue("en", Caller::new("c2", "2", 0, 10_001), 10_001).unwrap();
    assert_eq!(offered(&acd.poll(10_001))[0].1, ["fair"]);
    acd.enqueue("en", Caller::new("c3", "3", 0, 10_002), 10_002).unwrap();
    assert!(offered(&acd.poll(10_002)).is_empty(), "never to an agent without the skill");
}

#[test]
fn a_missed_offer_puts_the_agent_aside_and_the_caller_back_at_the_head() {
    let mut acd = acd_with(Strategy::LongestIdle, vec![agent("a", &["q"], 0), agent("b", &["q"], 10)]);
    acd.enqueue("q", Caller::new("c1", "1", 0, 100), 100).unwrap();
    acd.enqueue("q", Caller::new("c2", "2", 0, 200), 200).unwrap();
    let first = offered(&acd.poll(200));
    assert_eq!(first, [("c1".to_string(), vec!["a".to_string()]), ("c2".to_string(), vec!["b".to_string()])]);
    // c2 is answered by b; a lets c1 ring out (15 s).
    acd.answered("q", "c2", "b", 1_000).unwrap();
    let d = acd.poll(15_200);
    assert!(d.contains(&Decision::Missed { queue: "q".into(), caller: "c1".into(), agents: vec!["a".into()] }));
    assert_eq!(acd.position("q", "c1", 15_200), Some(1));
    // a is not free until the contact center says so (it puts them not ready: "missed").
    acd.enqueue("q", Caller::new("c3", "3", 0, 15_300), 15_300).unwrap();
    assert!(offered(&acd.poll(15_300)).is_empty());
    acd.set_free("b", true, 16_000);
    assert_eq!(offered(&acd.poll(16_000)), [("c1".to_string(), vec!["b".to_string()])], "c1 first: it kept its place");
}

#[test]
fn three_callers_one_agent_the_callback_caller_who_was_second_is_called_back_second() {
    let mut acd = acd_with(Strategy::LongestIdle, vec![agent("a", &["q"], 0)]);
    acd.set_free("a", false, 0);
    for (i, id) in ["first", "second", "third"].iter().enumerate() {
        acd.enqueue("q", Caller::new(id, &format!("1380000000{i}"), 0, i as i64 * 1_000), i as i64 * 1_000).unwrap();
    }
    acd.request_callback("q", "second").unwrap();
    assert_eq!(acd.position("q", "second", 5_000), Some(2), "a callback keeps its place");
    let wall = acd.wallboard("q", 5_000).unwrap();
    assert_eq!((wall.waiting, wall.callbacks_pending), (2, 1));

    let mut served = Vec::new();
    for round in 0..3 {
        let now = 10_000 + round * 100_000;
        acd.set_free("a", true, now);
        let d = acd.poll(now);
        assert_eq!(d.len(), 1, "{d:?}");
        let caller = match &d[0] {
            Decision::Offer { caller, agents, .. } => {
                assert_eq!(agents, &["a"]);
                caller.clone()
            }
            Decision::CallBack { caller, agent, number, .. } => {
                assert_eq!((agent.as_str(), number.as_str()), ("a", "13800000001"));
                format!("{caller} (called back)")
            }
            other => panic!("{other:?}"),
        };
        let id = caller.trim_end_matches(" (called back)").to_string();
        acd.answered("q", &id, "a", now + 5_000).unwrap();
        served.push(caller);
    }
    assert_eq!(served, ["first", "second (called back)", "third"]);
}

#[test]
fn a_callback_that_fails_keeps_its_place_and_frees_its_agent() {
    let mut acd = acd_with(Strategy::LongestIdle, vec![agent("a", &["q"], 0)]);
    acd.enqueue("q", Caller::new("cb", "139", 0, 0), 0).unwrap();
    acd.request_callback("q", "cb").unwrap();
    let d = acd.poll(10);
    assert!(matches!(&d[0], Decision::CallBack { agent, .. } if agent == "a"));
    acd.callback_failed("q", "cb", "a").unwrap();
    assert_eq!(acd.position("q", "cb", 20), Some(1));
    assert!(matches!(&acd.poll(30)[0], Decision::CallBack { .. }), "tried again");
    acd.give_up("q", "cb").unwrap();
    assert_eq!(acd.position("q", "cb", 40), None);
}

#[test]
fn priority_counts_as_waiting_time() {
    let mut acd = acd_with(Strategy::LongestIdle, vec![agent("a", &["q"], 0)]);
    acd.set_free("a", false, 0);
    acd.enqueue("q", Caller::new("old", "1", 0, 0), 0).unwrap();
    acd.enqueue("q", Caller::new("vip", "2", 1, 30_000), 30_000).unwrap();
    // At 40 s: old waited 40 s; vip 10 s + 60 s for its priority point.
    assert_eq!(acd.waiting("q", 40_000).first().map(|(id, _)| id.as_str()), Some("vip"));
    // At 100 s: old 100 s, vip 70 + 60 = 130 s: still first. A long-waiting caller catches up.
    acd.enqueue("q", Caller::new("vip2", "3", 1, 95_000), 95_000).unwrap();
    let order: Vec<String> = acd.waiting("q", 200_000).into_iter().map(|(id, _)| id).collect();
    assert_eq!(order, ["vip", "old", "vip2"]);
}

#[test]
fn max_wait_and_no_agent_overflow() {
    let mut acd = Acd::default();
    let cfg = QueueConfig { max_wait_ms: Some(60_000), overflow: Some("q2".into()), ..Default::default() };
    acd.set_queue("q", cfg);
    acd.set_queue("empty", QueueConfig { no_agent_wait_ms: Some(5_000), ..Default::default() });
    let mut busy = agent("a", &["q"], 0);
    busy.free = false;
    acd.set_agent(busy);
    acd.enqueue("q", Caller::new("c1", "1", 0, 0), 0).unwrap();
    acd.enqueue("empty", Caller::new("c2", "2", 0, 0), 0).unwrap();
    assert!(acd.poll(4_999).is_empty());
    assert_eq!(acd.poll(5_000), [Decision::Overflow { queue: "empty".into(), caller: "c2".into(), to: None }]);
    assert!(acd.poll(59_999).is_empty());
    assert_eq!(
        acd.poll(60_000),
        [Decision::Overflow { queue: "q".into(), caller: "c1".into(), to: Some("q2".into()) }]
    );
    assert_eq!(acd.wallboard("q", 60_000).unwrap().stats.overflowed, 1);
}

#[test]
fn a_caller_who_hung_up_and_calls_back_within_the_window_resumes_their_place() {
    let mut acd = acd_with(Strategy::LongestIdle, vec![agent("a", &["q"], 0)]);
    acd.set_free("a", false, 0);
    acd.enqueue("q", Caller::new("c1", "13800000001", 0, 0), 0).unwrap();
    acd.enqueue("q", Caller::new("c2", "13800000002", 0, 10_000), 10_000).unwrap();
    acd.abandon("q", "c1", 20_000, 60_000).unwrap();
    acd.enqueue("q", Caller::new("c1-again", "13800000001", 0, 50_000), 50_000).unwrap();
    assert_eq!(acd.position("q", "c1-again", 50_000), Some(1), "its place from 0 s");
    // Too late: a new place.
    acd.abandon("q", "c2", 60_000, 1_000).unwrap();
    acd.enqueue("q", Caller::new("c2-again", "13800000002", 0, 70_000), 70_000).unwrap();
    assert_eq!(acd.position("q", "c2-again", 70_000), Some(2));
}

#[test]
fn the_wallboard_counts_service_level_both_ways_and_asa() {
    let mut acd = acd_with(Strategy::LongestIdle, vec![agent("a", &["q"], 0)]);
    // Answered after 10 s and after 30 s; abandoned after 5 s; T = 20 s.
    for (id, wait, answer) in [("c1", 10_000, true), ("c2", 30_000, true), ("c3", 5_000, false)] {
        acd.set_free("a", true, 0);
        acd.enqueue("q", Caller::new(id, id, 0, 0), 0).unwrap();
        if answer {
            acd.poll(0);
            acd.answered("q", id, "a", wait).unwrap();
        } else {
            acd.abandon("q", id, wait, 0).unwrap();
        }
    }
    let w = acd.wallboard("q", 100_000).unwrap();
    assert_eq!((w.stats.answered, w.stats.abandoned, w.stats.entered), (2, 1, 3));
    assert_eq!(w.service_level(), Some(0.5));
    assert_eq!(w.service_level_with_abandons(), Some(2.0 / 3.0));
    assert_eq!(w.average_speed_of_answer_ms(), Some(20_000));
}

#[test]
fn a_blended_agent_is_wanted_by_inbound_while_a_caller_waits_for_them() {
    let mut acd = acd_with(Strategy::LongestIdle, vec![agent("a", &["q"], 0), agent("x", &["other"], 0)]);
    acd.set_queue("other", QueueConfig::default());
    acd.set_free("a", false, 0);
    assert!(!acd.wanted("a"), "nobody waits");
    acd.enqueue("q", Caller::new("c1", "1", 0, 0), 0).unwrap();
    assert!(acd.wanted("a"), "a caller of a's queue waits");
    assert!(!acd.wanted("x"), "not x's queue");
    // Once offered to a, the caller no longer wants anyone else.
    acd.set_free("a", true, 1);
    assert_eq!(offered(&acd.poll(1)).len(), 1);
    assert!(!acd.wanted("a"));
}
