//! Every call flow over the pure call engine, without sockets: what the engine asks of SIP and
//! media, what it logs, and how the call ends.

use std::collections::BTreeMap;
use yunhu_core::call::{CallEventKind, Cause, HangupSide, Side};
use yunhu_engine::flows::{Bridge, ClickToCall, CustomerFirst, FIRST, PlayPrompt, SECOND, Scripted, Stage};
use yunhu_engine::inbound::{InboundCall, QueuePlan};
use yunhu_engine::ivr::{Action, Menu, Node};
use yunhu_engine::machine::{By, Command, Input, LegRef, Ms, Output, Refusal, Role, SpyMode, Target};

fn target(number: &str) -> Target {
    Target {
        request_uri: format!("sip:{number}@127.0.0.1:5070"),
        destination: "127.0.0.1:5070".parse().unwrap(),
        tcp: false,
        from_user: "100".into(),
        from_domain: "t.yunhu".into(),
        number: number.into(),
        staff: if number.len() == 4 { format!("s{number}") } else { String::new() },
    }
}

/// A scripted call and everything it has asked for so far.
struct Run {
    s: Scripted,
    now: Ms,
    out: Vec<Output>,
    /// Who hears whom, as last set.
    hearing: BTreeMap<LegRef, Vec<LegRef>>,
}

impl Run {
    fn new(flow: Box<dyn yunhu_engine::flows::Flow>) -> Run {
        let (s, out) = Scripted::start(flow, 0);
        let mut r = Run { s, now: 0, out: Vec::new(), hearing: BTreeMap::new() };
        r.take(out);
        r
    }

    fn take(&mut self, out: Vec<Output>) {
        for o in &out {
            if let Output::Hearing { listener, speakers } = o {
                self.hearing.insert(*listener, speakers.clone());
            }
        }
        self.out.extend(out);
    }

    fn at(&mut self, now: Ms) -> &mut Self {
        self.now = now;
        self
    }

    fn feed(&mut self, input: Input) -> Result<(), Refusal> {
        let out = self.s.step(self.now, input)?;
        self.take(out);
        Ok(())
    }

    fn cmd(&mut self, c: Command) -> Result<(), Refusal> {
        self.feed(Input::Command(c))
    }

    fn answer(&mut self, leg: u8) {
        self.feed(Input::Answered(LegRef(leg))).unwrap();
    }

    fn ended(&mut self, leg: u8, status: u16, by: By) {
        self.feed(Input::Ended { leg: LegRef(leg), status, by }).unwrap();
    }

    /// Confirms every hangup and refusal asked for (the phones obey).
    fn confirm_hangups(&mut self) {
        loop {
            let pending: Vec<(u8, u16)> = self
                .out
                .iter()
                .filter_map(|o| match o {
                    Output::Hangup(l) => Some((l.0, 200)),
                    Output::Reject { leg, status } => Some((leg.0, *status)),
                    _ => None,
                })
                .collect();
            let before = self.out.len();
            for (leg, status) in pending {
                let _ = self
                    .s
                    .step(self.now, Input::Ended { leg: LegRef(leg), status, by: By::Local })
                    .map(|o| self.take(o));
            }
            if self.out.len() == before {
                break;
            }
        }
    }

    fn done(&self) -> Option<(Cause, HangupSide)> {
        self.out.iter().find_map(|o| match o {
            Output::Done { cause, side } => Some((*cause, *side)),
            _ => None,
        })
    }

    fn logs(&self) -> Vec<CallEventKind> {
        self.out
            .iter()
            .filter_map(|o| match o {
                Output::Log(k) => Some(k.clone()),
                _ => None,
            })
            .collect()
    }

    fn count(&self, pred: impl Fn(&Output) -> bool) -> usize {
        self.out.iter().filter(|o| pred(o)).count()
    }

    fn hears(&self, leg: u8) -> Vec<u8> {
        self.hearing.get(&LegRef(leg)).map(|v| v.iter().map(|l| l.0).collect()).unwrap_or_default()
    }

    fn dialled(&self) -> Vec<(u8, String)> {
        self.out
            .iter()
            .filter_map(|o| match o {
                Output::Dial { leg, target } => Some((leg.0, target.number.clone())),
                _ => None,
            })
            .collect()
    }
}

fn click_to_call() -> Run {
    Run::new(Box::new(ClickToCall { agent: target("1001"), customer: target("13800138000"), ring_timeout_ms: 30_000 }))
}

/// A click-to-call with agent (leg 0) and customer (leg 1) talking.
fn connected() -> Run {
    let mut r = click_to_call();
    r.at(1_000).answer(0);
    r.at(5_000).answer(1);
    r
}

#[test]
fn click_to_call_rings_the_agent_then_the_customer_then_connects_and_records() {
    let mut r = click_to_call();
    assert_eq!(r.dialled(), vec![(0, "1001".to_string())], "only the agent rings first");
    r.at(100).feed(Input::Ringing(FIRST)).unwrap();
    r.at(1_000).answer(0);
    assert_eq!(r.dialled().len(), 2, "the customer is dialled once the agent answers");
    assert_eq!(r.hears(0), Vec::<u8>::new(), "the agent hears nobody while the customer rings");
    r.at(5_000).answer(1);
    assert_eq!((r.hears(0), r.hears(1)), (vec![1], vec![0]), "two parties: a plain relay");
    assert!(r.out.contains(&Output::Record { left: SECOND }), "customer on the left channel");
    let logs = r.logs();
    let bridged = logs.iter().position(|k| *k == CallEventKind::Bridged).expect("bridged");
    assert_eq!(logs[bridged - 1], CallEventKind::Answered { side: Side::Customer });
    r.at(15_000).ended(1, 200, By::Remote);
    assert!(r.out.contains(&Output::Hangup(FIRST)), "the agent is hung up when the customer leaves");
    assert_eq!(r.done(), None, "not over before the agent's leg confirms");
    r.confirm_hangups();
    assert_eq!(r.done(), Some((Cause::NormalClearing, HangupSide::Customer)));
}

#[test]
fn click_to_call_ends_as_no_answer_busy_or_cancelled() {
    // The agent does not answer within the ring limit.
    let mut r = click_to_call();
    assert_eq!(r.s.call.next_deadline(), Some(30_000));
    r.at(30_000).feed(Input::Tick).unwrap();
    assert!(r.out.contains(&Output::Hangup(FIRST)));
    r.ended(0, 487, By::Local);
    assert_eq!(r.done(), Some((Cause::NoAnswer, HangupSide::Agent)));

    // The customer is busy.
    let mut r = click_to_call();
    r.at(1_000).answer(0);
    r.at(2_000).ended(1, 486, By::Remote);
    r.confirm_hangups();
    assert_eq!(r.done(), Some((Cause::UserBusy, HangupSide::Customer)));

    // Hung up by the API while the agent rings.
    let mut r = click_to_call();
    r.cmd(Command::Hangup).unwrap();
    r.confirm_hangups();
    assert_eq!(r.done(), Some((Cause::OriginatorCancel, HangupSide::System)));
}

#[test]
fn legs_that_never_confirm_their_end_are_let_go_after_the_give_up_limit() {
    let mut r = connected();
    r.at(10_000).ended(0, 200, By::Remote);
    assert_eq!(r.s.call.next_deadline(), Some(15_000));
    r.at(15_000).feed(Input::Tick).unwrap();
    assert!(r.logs().contains(&CallEventKind::LegEnded { side: Side::Customer, status: 408 }));
    assert_eq!(r.done(), Some((Cause::NormalClearing, HangupSide::Agent)));
}

fn inbound() -> Run {
    Run::new(Box::new(Bridge {
        caller_role: Role::Customer,
        caller_staff: String::new(),
        caller_number: "13800138000".into(),
        callee: target("1001"),
        ring_timeout_ms: 30_000,
    }))
}

#[test]
fn a_bridge_rings_the_caller_back_answers_with_the_callee_and_passes_refusals_on() {
    let mut r = inbound();
    assert_eq!(r.dialled(), vec![(1, "1001".to_string())]);
    r.feed(Input::Ringing(SECOND)).unwrap();
    assert!(r.out.contains(&Output::Ring(FIRST)), "the caller hears ringing");
    r.answer(1);
    assert!(r.out.contains(&Output::Answer(FIRST)), "the caller is answered when the callee is");
    assert!(r.out.contains(&Output::Record { left: FIRST }), "the calling customer is on the left");
    assert!(r.logs().contains(&CallEventKind::Bridged));

    // The callee is busy: the caller is refused with the callee's status.
    let mut r = inbound();
    r.ended(1, 486, By::Remote);
    assert!(r.out.contains(&Output::Reject { leg: FIRST, status: 486 }));
    r.confirm_hangups();
    assert_eq!(r.done(), Some((Cause::UserBusy, HangupSide::Agent)));

    // The callee rings out: the caller gets 480, the call is NO_ANSWER.
    let mut r = inbound();
    r.at(30_000).feed(Input::Tick).unwrap();
    r.ended(1, 487, By::Local);
    assert!(r.out.contains(&Output::Reject { leg: FIRST, status: 480 }));
    r.confirm_hangups();
    assert_eq!(r.done(), Some((Cause::NoAnswer, HangupSide::Agent)));

    // The caller gives up while the callee rings.
    let mut r = inbound();
    r.ended(0, 487, By::Remote);
    assert!(r.out.contains(&Output::Hangup(SECOND)));
    r.confirm_hangups();
    assert_eq!(r.done(), Some((Cause::OriginatorCancel, HangupSide::Customer)));
}

fn customer_first() -> Run {
    Run::new(Box::new(CustomerFirst::new(target("13800138000"), 30_000, 2_000, 4_000)))
}

#[test]
fn customer_first_connects_an_offered_agent_and_tries_the_next_when_one_does_not_answer() {
    let mut r = customer_first();
    assert!(!r.s.flow.wants_agent(&r.s.call), "no agent before a live answer");
    r.at(3_000).answer(0);
    assert!(r.s.flow.wants_agent(&r.s.call));
    r.cmd(CustomerFirst::offer(target("1001"))).unwrap();
    assert!(!r.s.flow.wants_agent(&r.s.call), "one agent at a time");
    r.at(3_500).ended(1, 486, By::Remote);
    assert_eq!(r.done(), None, "an agent who does not take it does not end the call");
    assert!(r.s.flow.wants_agent(&r.s.call));
    r.cmd(CustomerFirst::offer(target("1002"))).unwrap();
    r.at(4_000).answer(2);
    assert_eq!((r.hears(0), r.hears(2)), (vec![2], vec![0]));
    assert!(r.out.contains(&Output::Record { left: FIRST }));
    assert_eq!(r.s.call.summary().agent, "s1002");
    assert_eq!(r.s.call.summary().bridged_at, Some(4_000));
    r.at(9_000).ended(2, 200, By::Remote);
    r.confirm_hangups();
    assert_eq!(r.done(), Some((Cause::NormalClearing, HangupSide::Agent)));
}

#[test]
fn customer_first_abandons_with_the_identification_prompt_when_no_agent_comes_in_time() {
    let mut r = customer_first();
    r.at(3_000).answer(0);
    r.cmd(CustomerFirst::offer(target("1001"))).unwrap();
    assert_eq!(r.s.call.next_deadline(), Some(5_000));
    r.at(5_000).feed(Input::Tick).unwrap();
    assert!(r.out.contains(&Output::Hangup(SECOND)), "the late agent's ringing is cancelled");
    assert!(r.out.contains(&Output::Play { leg: FIRST, prompt: "abandoned".into() }));
    r.ended(1, 487, By::Local);
    // The agent answering now is too late: hung up, never connected.
    r.at(6_000).feed(Input::PlayDone(FIRST)).unwrap();
    assert!(r.out.contains(&Output::Hangup(FIRST)));
    r.confirm_hangups();
    assert_eq!(r.done(), Some((Cause::NormalClearing, HangupSide::System)));
    assert!(!r.logs().contains(&CallEventKind::Bridged));
    assert_eq!(r.s.call.summary().answered_at, Some(3_000));
    assert_eq!(r.s.call.summary().bridged_at, None);
}

#[test]
fn the_dialer_drops_a_ringing_customer_first_call_but_never_an_answered_one() {
    let mut r = customer_first();
    r.cmd(Command::HangupIfUnanswered).unwrap();
    r.confirm_hangups();
    assert_eq!(r.done(), Some((Cause::OriginatorCancel, HangupSide::System)));
    assert!(r.s.call.summary().dropped);

    let mut r = customer_first();
    r.answer(0);
    r.cmd(Command::HangupIfUnanswered).unwrap();
    assert_eq!(r.count(|o| matches!(o, Output::Hangup(_))), 0);
    assert!(!r.s.call.summary().dropped);
}

#[test]
fn a_feature_code_answers_plays_and_hangs_up() {
    let mut r = Run::new(Box::new(PlayPrompt { prompt: "login_ok".into(), prompt_ms: 1_000, caller: "1001".into() }));
    assert!(r.out.contains(&Output::Answer(FIRST)));
    assert!(r.out.contains(&Output::Play { leg: FIRST, prompt: "login_ok".into() }));
    r.at(1_000).feed(Input::PlayDone(FIRST)).unwrap();
    assert!(r.out.contains(&Output::Hangup(FIRST)));
}

#[test]
fn hold_plays_music_to_the_customer_silences_both_and_resumes() {
    let mut r = connected();
    r.cmd(Command::Hold).unwrap();
    assert!(r.out.contains(&Output::Reinvite { leg: SECOND, hold: true }));
    assert!(r.out.contains(&Output::MusicOnHold(SECOND)));
    assert!(r.out.contains(&Output::Inactivity { leg: SECOND, watch: false }), "a held phone may go quiet");
    assert_eq!((r.hears(0), r.hears(1)), (vec![], vec![]), "nobody hears the other while held");
    assert!(r.logs().contains(&CallEventKind::Held { side: Side::Customer, by_phone: false }));
    assert_eq!(r.cmd(Command::Hold), Err(Refusal::AlreadyHeld));
    r.cmd(Command::Unhold).unwrap();
    assert!(r.out.contains(&Output::Reinvite { leg: SECOND, hold: false }));
    assert!(r.out.contains(&Output::StopPlay(SECOND)));
    assert_eq!((r.hears(0), r.hears(1)), (vec![1], vec![0]));
    assert!(r.logs().contains(&CallEventKind::Resumed { side: Side::Customer }));
    assert_eq!(r.cmd(Command::Unhold), Err(Refusal::NotHeld));
}

#[test]
fn hold_pressed_on_the_agents_phone_gives_the_customer_music_without_a_reinvite() {
    let mut r = connected();
    r.feed(Input::PeerHold { leg: FIRST, held: true }).unwrap();
    assert!(r.out.contains(&Output::MusicOnHold(SECOND)));
    assert_eq!(r.count(|o| matches!(o, Output::Reinvite { .. })), 0);
    assert!(r.logs().contains(&CallEventKind::Held { side: Side::Customer, by_phone: true }));
    r.feed(Input::PeerHold { leg: FIRST, held: false }).unwrap();
    assert!(r.out.contains(&Output::StopPlay(SECOND)));
    assert_eq!((r.hears(0), r.hears(1)), (vec![1], vec![0]));
}

#[test]
fn commands_on_a_call_that_is_not_up_change_nothing() {
    let mut r = click_to_call();
    let before = r.out.len();
    assert_eq!(r.cmd(Command::Hold), Err(Refusal::NotUp));
    assert_eq!(r.cmd(Command::AddParty { target: target("1003"), ring_timeout_ms: 0 }), Err(Refusal::NotUp));
    let spy =
        Command::Spy { mode: SpyMode::Listen, target: Some(target("1009")), staff: "s1009".into(), ring_timeout_ms: 0 };
    assert_eq!(r.cmd(spy), Err(Refusal::NotUp));
    assert_eq!(r.cmd(Command::CompleteTransfer), Err(Refusal::NoConsult));
    assert_eq!(r.cmd(Command::SetSpyMode(SpyMode::Barge)), Err(Refusal::NoSupervisor));
    assert_eq!(r.out.len(), before, "nothing asked of SIP or media, nothing logged");
}

#[test]
fn a_blind_transfer_hands_the_customer_to_another_agent_without_dropping_them() {
    let mut r = connected();
    r.cmd(Command::BlindTransfer { target: target("1002"), ring_timeout_ms: 30_000 }).unwrap();
    assert!(r.out.contains(&Output::Hangup(FIRST)), "the first agent leaves");
    assert!(r.out.contains(&Output::MusicOnHold(SECOND)), "the customer hears music meanwhile");
    r.ended(0, 200, By::Local);
    assert_eq!(r.done(), None);
    assert_eq!(r.count(|o| matches!(o, Output::Hangup(l) if *l == SECOND)), 0, "the customer stays");
    r.at(8_000).answer(2);
    assert!(r.out.contains(&Output::StopPlay(SECOND)));
    assert_eq!((r.hears(1), r.hears(2)), (vec![2], vec![1]));
    let logs = r.logs();
    assert!(logs.iter().any(|k| matches!(k, CallEventKind::Transferred { how, from_staff, staff, .. }
        if how == "blind" && from_staff == "s1001" && staff == "s1002")));
    assert_eq!(r.s.call.summary().agent, "s1002");
    r.at(20_000).ended(1, 200, By::Remote);
    r.confirm_hangups();
    assert_eq!(r.done(), Some((Cause::NormalClearing, HangupSide::Customer)));
}

#[test]
fn an_attended_transfer_consults_then_completes_or_cancels() {
    let mut r = connected();
    r.cmd(Command::Consult { target: target("1002"), ring_timeout_ms: 30_000 }).unwrap();
    assert!(r.out.contains(&Output::MusicOnHold(SECOND)));
    assert_eq!(r.cmd(Command::CompleteTransfer), Err(Refusal::NoConsult), "not before the colleague answers");
    r.answer(2);
    assert_eq!((r.hears(0), r.hears(2), r.hears(1)), (vec![2], vec![0], vec![]), "agent and colleague talk alone");
    r.cmd(Command::CompleteTransfer).unwrap();
    assert!(r.out.contains(&Output::Hangup(FIRST)));
    r.ended(0, 200, By::Local);
    assert_eq!((r.hears(1), r.hears(2)), (vec![2], vec![1]), "the customer is with the colleague");
    assert_eq!(r.s.call.summary().agent, "s1002");
    assert_eq!(r.done(), None);

    let mut r = connected();
    r.cmd(Command::Consult { target: target("1002"), ring_timeout_ms: 30_000 }).unwrap();
    r.answer(2);
    r.cmd(Command::CancelTransfer).unwrap();
    assert!(r.out.contains(&Output::Hangup(LegRef(2))));
    r.ended(2, 200, By::Local);
    assert_eq!((r.hears(0), r.hears(1)), (vec![1], vec![0]), "back with the first agent");
    assert_eq!(r.s.call.summary().agent, "s1001");
    assert_eq!(r.done(), None);
}

#[test]
fn a_meeting_lets_each_party_hear_the_other_two_and_goes_on_when_one_leaves() {
    let mut r = connected();
    r.cmd(Command::AddParty { target: target("13900139000"), ring_timeout_ms: 30_000 }).unwrap();
    r.answer(2);
    assert_eq!((r.hears(0), r.hears(1), r.hears(2)), (vec![1, 2], vec![0, 2], vec![0, 1]));
    r.ended(2, 200, By::Remote);
    assert_eq!((r.hears(0), r.hears(1)), (vec![1], vec![0]));
    assert_eq!(r.done(), None, "two parties are still talking");
    assert!(r.logs().iter().any(|k| matches!(k, CallEventKind::PartyLeft { role, .. } if role == "meeting")));
}

#[test]
fn a_supervisor_listens_whispers_and_barges_and_switches_by_key() {
    let mut r = connected();
    let spy =
        Command::Spy { mode: SpyMode::Listen, target: Some(target("1009")), staff: "s1009".into(), ring_timeout_ms: 0 };
    r.cmd(spy.clone()).unwrap();
    assert_eq!(r.cmd(spy), Err(Refusal::AlreadySpied));
    r.answer(2);
    // Listen: the supervisor hears both, nobody hears the supervisor.
    assert_eq!((r.hears(0), r.hears(1), r.hears(2)), (vec![1], vec![0], vec![0, 1]));
    // Whisper: only the agent hears the supervisor.
    r.cmd(Command::SetSpyMode(SpyMode::Whisper)).unwrap();
    assert_eq!((r.hears(0), r.hears(1), r.hears(2)), (vec![1, 2], vec![0], vec![0, 1]));
    // Barge, by the supervisor's key 6: everyone hears everyone.
    r.feed(Input::Dtmf { leg: LegRef(2), digit: '6' }).unwrap();
    assert_eq!((r.hears(0), r.hears(1), r.hears(2)), (vec![1, 2], vec![0, 2], vec![0, 1]));
    r.feed(Input::Dtmf { leg: LegRef(2), digit: '4' }).unwrap();
    assert_eq!(r.hears(1), vec![0], "back to listening");
    let modes: Vec<String> = r
        .logs()
        .into_iter()
        .filter_map(|k| match k {
            CallEventKind::Spy { mode, .. } => Some(mode),
            _ => None,
        })
        .collect();
    assert_eq!(modes, ["listen", "whisper", "barge", "listen"]);
    // The supervisor leaving ends nothing; the agent leaving ends the call and the spy.
    r.ended(0, 200, By::Remote);
    assert!(r.out.contains(&Output::Hangup(LegRef(2))));
}

#[test]
fn a_supervisor_calling_in_is_answered_into_the_call() {
    let mut r = connected();
    r.cmd(Command::Spy { mode: SpyMode::Whisper, target: None, staff: "s1009".into(), ring_timeout_ms: 0 }).unwrap();
    assert!(r.out.contains(&Output::Answer(LegRef(2))));
    assert_eq!((r.hears(0), r.hears(1)), (vec![1, 2], vec![0]));
}

#[test]
fn a_peer_that_vanishes_ends_the_call_as_a_timer_expiry() {
    let mut r = connected();
    assert!(r.out.contains(&Output::Inactivity { leg: SECOND, watch: true }));
    r.at(65_000).feed(Input::Inactive(SECOND)).unwrap();
    assert!(r.logs().contains(&CallEventKind::MediaTimeout { side: Side::Customer }));
    assert!(r.out.contains(&Output::Hangup(FIRST)) && r.out.contains(&Output::Hangup(SECOND)));
    r.confirm_hangups();
    assert_eq!(r.done(), Some((Cause::RecoveryOnTimerExpire, HangupSide::Customer)));
}

#[test]
fn a_refer_from_the_agents_phone_is_a_blind_transfer() {
    let mut r = connected();
    r.feed(Input::Refer { leg: FIRST, target: target("1002") }).unwrap();
    assert!(r.out.contains(&Output::Hangup(FIRST)));
    assert_eq!(r.dialled().last().map(|(l, n)| (*l, n.as_str())), Some((2, "1002")));
    assert_eq!(CustomerFirst::new(target("1"), 1, 1, 1).stage(), Stage::Ringing);
}

fn queued(code: &str, plan: QueuePlan) -> InboundCall {
    let mut flow = InboundCall::new("13800138000", Action::Queue(code.into()), 600_000);
    flow.queues.insert(code.into(), plan);
    flow
}

#[test]
fn a_queued_caller_hears_music_until_the_first_offered_agent_answers_and_the_others_stop_ringing() {
    let mut r = Run::new(Box::new(queued("8001", QueuePlan::default())));
    assert!(r.out.contains(&Output::Answer(FIRST)));
    assert!(r.out.contains(&Output::MusicOnHold(FIRST)));
    assert!(r.out.contains(&Output::Note(yunhu_engine::machine::Note::Asked("queue:8001".into()))));
    assert!(r.logs().contains(&CallEventKind::QueueEntered { queue: "8001".into() }));
    // An offer that rings out ends its leg; the caller keeps waiting, still with music.
    r.cmd(InboundCall::offer(target("1001"), 15_000)).unwrap();
    r.at(15_000).feed(Input::Tick).unwrap();
    r.ended(1, 487, By::Local);
    assert_eq!(r.done(), None, "a missed offer does not end the call");
    assert!(!r.out.contains(&Output::StopPlay(FIRST)));
    // Ring-all: two phones; the second answers first.
    r.cmd(InboundCall::offer(target("1002"), 15_000)).unwrap();
    r.cmd(InboundCall::offer(target("1003"), 15_000)).unwrap();
    r.at(20_000).answer(3);
    assert!(r.out.contains(&Output::StopPlay(FIRST)));
    assert!(r.out.contains(&Output::Hangup(LegRef(2))), "1002 stops ringing");
    assert_eq!((r.hears(0), r.hears(3)), (vec![3], vec![0]));
    assert_eq!(r.s.call.summary().agent, "s1003");
    r.at(30_000).ended(3, 200, By::Remote);
    r.confirm_hangups();
    assert_eq!(r.done(), Some((Cause::NormalClearing, HangupSide::Agent)));
    assert!(!r.logs().iter().any(|e| matches!(e, CallEventKind::Surveyed { .. })), "no survey asked for");
}

#[test]
fn a_queued_caller_nobody_takes_is_let_go_at_the_last_guard() {
    let mut r = Run::new(Box::new(InboundCall::new("13800138000", Action::Queue("8001".into()), 60_000)));
    r.at(60_000).feed(Input::Tick).unwrap();
    r.confirm_hangups();
    assert_eq!(r.done(), Some((Cause::NoAnswer, HangupSide::System)));
    assert!(r.logs().contains(&CallEventKind::QueueLeft { outcome: "timeout".into() }));
}

fn menu() -> Menu {
    let node = |name: &str, max_digits: u8, keys: &[(&str, &str)], next: &str| Node {
        name: name.into(),
        prompt: format!("{name}_prompt"),
        max_digits,
        timeout_secs: 5,
        retries: 1,
        keys: keys.iter().map(|(k, a)| (k.to_string(), a.parse().unwrap())).collect(),
        next: next.parse().unwrap(),
    };
    Menu {
        name: "main".into(),
        start: "welcome".into(),
        nodes: vec![
            node("welcome", 0, &[], "node:choose"),
            node("choose", 1, &[("1", "node:sales"), ("2", "queue:8002")], "hangup"),
            node("sales", 2, &[("11", "queue:8001"), ("12", "voicemail")], "hangup"),
        ],
    }
}

fn through_ivr() -> InboundCall {
    let mut flow = InboundCall::new("13800138000", Action::Menu("main".into()), 600_000);
    flow.menus.insert("main".into(), menu());
    flow
}

fn played(r: &Run) -> Vec<String> {
    r.out
        .iter()
        .filter_map(|o| match o {
            Output::Play { prompt, .. } => Some(prompt.clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn an_ivr_walk_plays_each_node_collects_keys_and_logs_the_path_into_the_queue() {
    let mut r = Run::new(Box::new(through_ivr()));
    assert_eq!(played(&r), ["welcome_prompt"]);
    r.at(2_000).feed(Input::PlayDone(FIRST)).unwrap();
    assert_eq!(played(&r), ["welcome_prompt", "choose_prompt"], "a play-only node goes on by itself");
    // Barge-in: the key stops the prompt.
    r.at(2_500).feed(Input::Dtmf { leg: FIRST, digit: '1' }).unwrap();
    assert!(r.out.contains(&Output::StopPlay(FIRST)));
    assert_eq!(played(&r).last().map(String::as_str), Some("sales_prompt"));
    r.at(3_000).feed(Input::PlayDone(FIRST)).unwrap();
    r.at(3_500).feed(Input::Dtmf { leg: FIRST, digit: '1' }).unwrap();
    r.at(4_000).feed(Input::Dtmf { leg: FIRST, digit: '1' }).unwrap();
    let path: Vec<CallEventKind> = r
        .logs()
        .into_iter()
        .filter(|e| {
            matches!(
                e,
                CallEventKind::IvrStarted { .. }
                    | CallEventKind::IvrNode { .. }
                    | CallEventKind::IvrEnded { .. }
                    | CallEventKind::QueueEntered { .. }
            )
        })
        .collect();
    assert_eq!(
        path,
        [
            CallEventKind::IvrStarted { ivr: "main".into() },
            CallEventKind::IvrNode { node: "welcome".into() },
            CallEventKind::IvrNode { node: "choose".into() },
            CallEventKind::IvrNode { node: "sales".into() },
            CallEventKind::IvrEnded { digits: "111".into() },
            CallEventKind::QueueEntered { queue: "8001".into() },
        ]
    );
    assert!(r.out.contains(&Output::MusicOnHold(FIRST)));
}

#[test]
fn an_unknown_key_or_silence_replays_the_node_then_takes_its_next() {
    let mut r = Run::new(Box::new(through_ivr()));
    r.at(2_000).feed(Input::PlayDone(FIRST)).unwrap();
    r.at(3_000).feed(Input::PlayDone(FIRST)).unwrap();
    r.at(3_500).feed(Input::Dtmf { leg: FIRST, digit: '9' }).unwrap();
    assert_eq!(played(&r).iter().filter(|p| *p == "choose_prompt").count(), 2, "one retry");
    r.at(4_000).feed(Input::PlayDone(FIRST)).unwrap();
    // Silence past the timeout with the retry spent: the node's next (hang up).
    r.at(9_500).feed(Input::Tick).unwrap();
    r.confirm_hangups();
    assert_eq!(r.done(), Some((Cause::NormalClearing, HangupSide::System)));
    assert!(r.logs().contains(&CallEventKind::IvrEnded { digits: String::new() }));
}

#[test]
fn the_callback_key_leaves_the_line_keeping_the_place_and_says_goodbye() {
    let plan = QueuePlan { callback_key: Some('1'), voicemail_key: Some('2'), survey: false };
    let mut r = Run::new(Box::new(queued("8001", plan)));
    assert_eq!(played(&r), ["queue_exit_keys"]);
    r.at(3_000).feed(Input::PlayDone(FIRST)).unwrap();
    assert!(r.out.contains(&Output::MusicOnHold(FIRST)));
    // The place is told, music pauses for it and comes back.
    r.cmd(Command::Tell("position:3:2".into())).unwrap();
    assert_eq!(
        played(&r).last().map(String::as_str),
        Some("queue_position,digit_3,queue_callers,queue_wait,digit_2,minutes")
    );
    r.at(8_000).feed(Input::PlayDone(FIRST)).unwrap();
    assert_eq!(r.count(|o| *o == Output::MusicOnHold(FIRST)), 2);
    r.at(9_000).feed(Input::Dtmf { leg: FIRST, digit: '1' }).unwrap();
    assert!(r.logs().contains(&CallEventKind::QueueLeft { outcome: "callback".into() }));
    assert!(r.out.contains(&Output::Note(yunhu_engine::machine::Note::Asked("callback".into()))));
    assert_eq!(played(&r).last().map(String::as_str), Some("callback_ok"));
    r.at(11_000).feed(Input::PlayDone(FIRST)).unwrap();
    r.confirm_hangups();
    assert_eq!(r.done(), Some((Cause::NormalClearing, HangupSide::Customer)));
}

#[test]
fn the_voicemail_key_records_the_caller_alone_after_the_prompt() {
    let plan = QueuePlan { callback_key: Some('1'), voicemail_key: Some('2'), survey: false };
    let mut r = Run::new(Box::new(queued("8001", plan)));
    r.at(3_000).feed(Input::PlayDone(FIRST)).unwrap();
    r.at(4_000).feed(Input::Dtmf { leg: FIRST, digit: '2' }).unwrap();
    assert_eq!(played(&r).last().map(String::as_str), Some("voicemail"));
    assert!(!r.out.iter().any(|o| matches!(o, Output::Record { .. })));
    r.at(6_000).feed(Input::PlayDone(FIRST)).unwrap();
    assert!(r.out.contains(&Output::Record { left: FIRST }), "the message is recorded");
    r.at(20_000).ended(0, 200, By::Remote);
    r.confirm_hangups();
    assert_eq!(r.done(), Some((Cause::NormalClearing, HangupSide::Customer)));
}

#[test]
fn when_the_agent_hangs_up_first_the_caller_is_asked_to_rate_the_call() {
    let plan = QueuePlan { survey: true, ..Default::default() };
    let mut r = Run::new(Box::new(queued("8001", plan)));
    r.cmd(InboundCall::offer(target("1001"), 15_000)).unwrap();
    r.at(5_000).answer(1);
    r.at(30_000).ended(1, 200, By::Remote);
    assert_eq!(r.done(), None, "the caller stays for the survey");
    assert_eq!(played(&r).last().map(String::as_str), Some("survey"));
    r.at(33_000).feed(Input::Dtmf { leg: FIRST, digit: '4' }).unwrap();
    assert!(r.logs().contains(&CallEventKind::Surveyed { score: 4 }));
    r.at(35_000).feed(Input::PlayDone(FIRST)).unwrap();
    r.confirm_hangups();
    assert_eq!(r.done(), Some((Cause::NormalClearing, HangupSide::Agent)), "the agent hung up first");

    // A caller who hangs up first is not asked.
    let plan = QueuePlan { survey: true, ..Default::default() };
    let mut r = Run::new(Box::new(queued("8001", plan)));
    r.cmd(InboundCall::offer(target("1001"), 15_000)).unwrap();
    r.at(5_000).answer(1);
    r.at(30_000).ended(0, 200, By::Remote);
    r.confirm_hangups();
    assert_eq!(r.done(), Some((Cause::NormalClearing, HangupSide::Customer)));
    assert!(!played(&r).contains(&"survey".to_string()));
}
