use serde_json::json;

use super::*;
use crate::questions::question_set;

const OFFER: &str = include_str!("../../../contract/testdata/webrtc_rs_0_21_offer.sdp");

fn request(session: Value) -> Vec<u8> {
    json!({"session": session, "transport": {"type": "webrtc", "sdp": OFFER}})
        .to_string()
        .into_bytes()
}

fn refusal(session: Value) -> ConfigError {
    parse_create(&request(session)).unwrap_err()
}

fn line(role: Role, text: &str) -> StoredLine {
    StoredLine {
        role,
        text: text.to_owned(),
    }
}

#[test]
fn a_create_request_in_the_sdks_form_is_read_whole() {
    let parsed = parse_create(&request(json!({
        "model": "gpt-live-1",
        "instructions": "Ask the `software_engineer` questions.",
        "audio": {"output": {"voice": "marin"}},
        "client": {"data_channel": {"allowed_client_events": ["session.close"], "allowed_server_events": [{"type": "session.started"}]}},
        "delegation": null,
        "input": [
            {"type": "message", "role": "developer", "content": [{"type": "input_text", "text": "Context."}]},
            {"role": "assistant", "content": [{"type": "output_text", "text": "Hello."}], "status": "completed"},
            {"role": "user", "content": [{"text": "Hi."}]},
        ],
        "store": false,
        "safety_identifier": "user-1",
    })))
    .unwrap();
    let session = &parsed.session;
    assert_eq!(session.model, "gpt-live-1");
    assert_eq!(session.input.len(), 3);
    assert_eq!(session.input[1].text(), "Hello.");
    assert!(session.allowed_client_events().allows("session.close"));
    assert!(!session.allowed_client_events().allows("session.update"));
    assert_eq!(session.voice(), Some(&json!("marin")));
    assert_eq!(parsed.transport.sdp, OFFER);
    // Permissions left out allow every event, as the service documents.
    let open = parse_create(&request(json!({"model": "gpt-live-1"}))).unwrap();
    assert!(open.session.allowed_client_events().allows("anything"));
    let all = parse_create(&request(
        json!({"model": "m", "client": {"data_channel": {"allowed_client_events": "all"}}}),
    ))
    .unwrap();
    assert!(all.session.allowed_client_events().allows("session.update"));
}

#[test]
fn what_is_not_the_create_form_is_refused_with_its_reason() {
    // Not the form at all: Realtime's session, a missing transport, an unknown field.
    for body in [
        json!({"type": "realtime", "model": "gpt-realtime"}),
        json!({"session": {"model": "gpt-live-1"}}),
        json!({"session": {"model": "gpt-live-1"}, "transport": {"type": "webrtc", "sdp": OFFER}, "extra": 1}),
    ] {
        let error = parse_create(body.to_string().as_bytes()).unwrap_err();
        assert_eq!(error.code, "invalid_request", "{body}");
    }
    assert_eq!(
        parse_create(b"v=0 not json").unwrap_err().code,
        "invalid_request"
    );
    // Fields the config does not have (Realtime's, a WebRTC audio format).
    for session in [
        json!({"model": "gpt-live-1", "turn_detection": null}),
        json!({"model": "gpt-live-1", "audio": {"format": {"type": "audio/pcm"}}}),
        json!({"model": "gpt-live-1", "client": {"data_channel": {"allowed_client_events": "some"}}}),
        json!({"instructions": "no model"}),
    ] {
        assert_eq!(
            refusal(session.clone()).code,
            "invalid_request",
            "{session}"
        );
    }
    let bad_transport =
        json!({"session": {"model": "m"}, "transport": {"type": "websocket", "sdp": OFFER}});
    assert_eq!(
        parse_create(bad_transport.to_string().as_bytes())
            .unwrap_err()
            .param
            .as_deref(),
        Some("transport.type")
    );
    let not_sdp =
        json!({"session": {"model": "m"}, "transport": {"type": "webrtc", "sdp": "hello"}});
    assert_eq!(
        parse_create(not_sdp.to_string().as_bytes())
            .unwrap_err()
            .code,
        "invalid_offer"
    );
    assert_eq!(refusal(json!({"model": " "})).code, "invalid_value");
    assert_eq!(
        refusal(json!({"model": "m", "delegation": {"type": "client"}})).code,
        "unsupported_parameter"
    );
    assert_eq!(
        refusal(json!({"model": "m", "triggers": [{"type": "x"}]})).code,
        "unsupported_parameter"
    );
}

#[test]
fn input_is_held_to_128_messages_8192_tokens_and_one_typed_part_each() {
    let message = |role: &str, kind: &str, text: &str| json!({"type": "message", "role": role, "content": [{"type": kind, "text": text}]});
    let many: Vec<Value> = (0..129)
        .map(|i| message("user", "input_text", &format!("line {i}")))
        .collect();
    let error = refusal(json!({"model": "m", "input": many}));
    assert_eq!(error.code, "too_many_input_items");
    assert_eq!(error.param.as_deref(), Some("session.input"));
    let just_enough: Vec<Value> = many[..128].to_vec();
    assert!(parse_create(&request(json!({"model": "m", "input": just_enough}))).is_ok());
    // 8,192 tokens is 32,768 characters by the estimate: one more is refused.
    let long = "x".repeat(4 * MAX_INPUT_TOKENS);
    assert!(
        parse_create(&request(
            json!({"model": "m", "input": [message("user", "input_text", &long)]})
        ))
        .is_ok()
    );
    let longer = format!("{long}x");
    assert_eq!(
        refusal(json!({"model": "m", "input": [message("user", "input_text", &longer)]})).code,
        "input_too_long"
    );
    let two_parts = json!({"role": "user", "content": [{"type": "input_text", "text": "a"}, {"type": "input_text", "text": "b"}]});
    assert_eq!(
        refusal(json!({"model": "m", "input": [two_parts]})).code,
        "invalid_value"
    );
    let no_part = json!({"role": "user", "content": []});
    assert_eq!(
        refusal(json!({"model": "m", "input": [no_part]})).code,
        "invalid_value"
    );
    for (role, kind) in [
        ("assistant", "input_text"),
        ("user", "output_text"),
        ("developer", "output_text"),
    ] {
        let error = refusal(json!({"model": "m", "input": [message(role, kind, "hi")]}));
        assert_eq!(
            error.param.as_deref(),
            Some("session.input[0].content[0].type"),
            "{role} {kind}"
        );
    }
    assert_eq!(
        refusal(json!({"model": "m", "input": [message("system", "input_text", "hi")]})).code,
        "invalid_request"
    );
    let audio = json!({"type": "message", "role": "user", "content": [{"type": "input_audio", "audio": "AAAA"}]});
    assert_eq!(
        refusal(json!({"model": "m", "input": [audio]})).code,
        "invalid_request"
    );
}

#[test]
fn tokens_are_estimated_as_characters_over_four_rounded_up() {
    assert_eq!(estimate_tokens(""), 0);
    assert_eq!(estimate_tokens("abcd"), 1);
    assert_eq!(estimate_tokens("abcde"), 2);
    // Characters, not bytes.
    assert_eq!(estimate_tokens("ééééé"), 2);
}

#[test]
fn a_short_history_is_every_line_in_order_after_the_context() {
    let lines = [
        line(Role::Assistant, "Hello. Tell me about yourself."),
        line(Role::User, "I build databases."),
        line(Role::User, "   "),
        line(Role::Assistant, "What went wrong last time?"),
    ];
    let input = history_input(&lines);
    let texts: Vec<(Role, &str)> = input.iter().map(|m| (m.role, m.text())).collect();
    assert_eq!(
        texts,
        vec![
            (Role::Developer, RESUME_CONTEXT),
            (Role::Assistant, "Hello. Tell me about yourself."),
            (Role::User, "I build databases."),
            (Role::Assistant, "What went wrong last time?"),
        ]
    );
    assert_eq!(input[1].content[0].kind.as_deref(), Some("output_text"));
    assert_eq!(input[2].content[0].kind.as_deref(), Some("input_text"));
    check_input(&input).unwrap();
    assert!(history_input(&[]).is_empty());
}

#[test]
fn a_long_history_keeps_the_first_question_and_the_most_recent_lines_within_the_limits() {
    let mut lines = vec![line(Role::Assistant, "Hello. Tell me about yourself.")];
    for i in 1..=150 {
        let role = if i % 2 == 1 {
            Role::User
        } else {
            Role::Assistant
        };
        lines.push(line(role, &format!("line {i}")));
    }
    let input = history_input(&lines);
    check_input(&input).unwrap();
    assert_eq!(input.len(), MAX_INPUT_MESSAGES);
    assert_eq!(input[0].text(), RESUME_CONTEXT);
    assert_eq!(input[1].text(), "Hello. Tell me about yourself.");
    assert_eq!(input[2].role, Role::Developer);
    // 128 = context + first question + note + 125 recent lines: lines 26..=150.
    assert_eq!(input[2].text(), omitted_note(25));
    let recent: Vec<&str> = input[3..].iter().map(InitialItem::text).collect();
    let expected: Vec<String> = (26..=150).map(|i| format!("line {i}")).collect();
    assert_eq!(recent, expected);

    // Long lines: the token limit binds first.
    let mut long = vec![
        line(Role::User, "Can you hear me?"),
        line(Role::Assistant, "Yes. Tell me about yourself."),
    ];
    for i in 0..20 {
        long.push(line(Role::User, &format!("{i:02} {}", "word ".repeat(400))));
    }
    let input = history_input(&long);
    check_input(&input).unwrap();
    let tokens: usize = input.iter().map(|m| estimate_tokens(m.text())).sum();
    assert!(tokens <= MAX_INPUT_TOKENS, "{tokens}");
    assert_eq!(input[1].text(), "Yes. Tell me about yourself.");
    let last = input.last().unwrap().text();
    assert!(
        last.starts_with("19 "),
        "the most recent line is kept: {last}"
    );
    // The kept lines are a contiguous, ordered tail.
    let kept: Vec<&str> = input[3..].iter().map(|m| &m.text()[..2]).collect();
    let first_kept: usize = kept[0].parse().unwrap();
    let expected: Vec<String> = (first_kept..20).map(|i| format!("{i:02}")).collect();
    assert_eq!(kept, expected);
    // Everything before the tail, but the first question, is counted as left out ("Can you
    // hear me?" among them).
    assert_eq!(input[2].text(), omitted_note(1 + first_kept));
}

#[test]
fn an_interview_session_permits_only_the_candidates_commands_and_stores_nothing() {
    let set = question_set("software_engineer").unwrap();
    let lines = [
        line(Role::Assistant, "Hello."),
        line(Role::User, "Hi, I am ready."),
    ];
    let session = interview_session(&set, &lines, DEFAULT_LIVE_MODEL);
    session.check().unwrap();
    let wire = serde_json::to_value(&session).unwrap();
    assert_eq!(
        wire["client"]["data_channel"]["allowed_client_events"],
        json!(viva_realtime::live::CANDIDATE_COMMANDS)
    );
    assert_eq!(wire["store"], false);
    assert_eq!(wire["model"], "gpt-live-1");
    assert_eq!(wire["input"].as_array().unwrap().len(), 3);
    let instructions = wire["instructions"].as_str().unwrap();
    assert!(instructions.contains("`software_engineer`"));
    for question in &set.questions {
        assert!(instructions.contains(question.as_str()), "{question}");
    }
    assert_eq!(
        crate::questions::question_set_named_in(instructions),
        "software_engineer"
    );
    // No field the service would refuse: it reads back as a create request's session.
    let round_trip = parse_create(&request(wire)).unwrap();
    assert_eq!(round_trip.session, session);
}

#[test]
fn the_resolved_session_has_what_the_sdk_requires() {
    let set = question_set("general_behavioural").unwrap();
    let session = interview_session(&set, &[], "gpt-live-1");
    let resource = session.resource(
        "live_1",
        1_800_000_000,
        "viva-local-live",
        &json!("espeak-ng:en-us"),
    );
    assert_eq!(resource["id"], "live_1");
    assert_eq!(resource["expires_at"], 1_800_000_000);
    assert_eq!(resource["model"], "viva-local-live");
    assert_eq!(resource["status"], "active");
    assert_eq!(resource["store"], false);
    assert_eq!(resource["audio"]["output"]["voice"], "espeak-ng:en-us");
    assert!(resource.get("input").is_none());
    assert_eq!(
        resource["client"]["data_channel"]["allowed_client_events"],
        json!(viva_realtime::live::CANDIDATE_COMMANDS)
    );
}
