-- The transcript pipeline takes only whole JSON numbers for seq, started_ms and ended_ms, as the
-- contract says and the local stack already did. Until now a cast accepted "3" (a string) and
-- rounded 2.5 to 3: the shared contract suite found the two implementations disagreeing. The
-- function is otherwise as in 20261205000000_write_rules.sql (owner, grants and every other
-- rule unchanged; see there for why it is safe).

create or replace function viva_pipeline.record_transcript_lines(p_session_id uuid, p_entries jsonb)
    returns jsonb
    language plpgsql
    security definer
    set search_path = ''
as $$
declare
    max_entries constant integer := 500;
    max_text_chars constant integer := 20000;
    max_item_id_chars constant integer := 200;
    late_after constant interval := interval '10 minutes';
    claims jsonb := coalesce(nullif(current_setting('request.jwt.claims', true), ''), '{}')::jsonb;
    caller uuid;
    caller_tenant uuid;
    target record;
    entry jsonb;
    item text;
    seq_value integer;
    speaker_value text;
    text_value text;
    started_value bigint;
    ended_value bigint;
    problem text;
    problem_code text;
    inserted integer;
    accepted integer := 0;
    duplicates integer := 0;
    rejected jsonb := '[]'::jsonb;
begin
    begin
        caller := nullif(claims ->> 'sub', '')::uuid;
        caller_tenant := nullif(claims -> 'app_metadata' ->> 'tenant_id', '')::uuid;
    exception when others then
        caller := null;
    end;
    if caller is null or caller_tenant is null then
        raise exception using errcode = '42501', message = 'sign in first: no verified caller';
    end if;
    select s.id, s.tenant_id, s.candidate_id, s.closed_at into target
        from public.interview_sessions s where s.id = p_session_id;
    if not found or target.tenant_id <> caller_tenant or target.candidate_id is distinct from caller then
        raise exception using errcode = '42501', message = 'this session is not yours';
    end if;
    if jsonb_typeof(p_entries) is distinct from 'array' then
        raise exception using errcode = '22023', message = 'entries must be a JSON array';
    end if;
    if jsonb_array_length(p_entries) > max_entries then
        raise exception using errcode = '54000',
            message = format('send at most %s entries per call', max_entries);
    end if;

    for entry in select value from jsonb_array_elements(p_entries) loop
        problem := null;
        problem_code := 'invalid_entry';
        item := case when jsonb_typeof(entry -> 'item_id') = 'string' then entry ->> 'item_id' end;
        -- JSON numbers only, and whole ones: a cast alone would take "3" (a string) and round
        -- 2.5 to 3, which the contract refuses (and the local stack does).
        if jsonb_typeof(entry) = 'object' and exists (
            select 1 from unnest(array['seq', 'started_ms', 'ended_ms']) as field
            where entry ? field and jsonb_typeof(entry -> field) <> 'null'
              and (jsonb_typeof(entry -> field) <> 'number'
                   or (entry ->> field) !~ '^-?[0-9]+$')
        ) then
            problem := 'seq and times must be whole numbers';
        end if;
        begin
            seq_value := (entry ->> 'seq')::integer;
            speaker_value := entry ->> 'speaker';
            text_value := case when jsonb_typeof(entry -> 'text') = 'string' then entry ->> 'text' end;
            started_value := (entry ->> 'started_ms')::bigint;
            ended_value := (entry ->> 'ended_ms')::bigint;
        exception when others then
            problem := 'seq and times must be whole numbers';
        end;
        if problem is not null then
            null;
        elsif jsonb_typeof(entry) is distinct from 'object' then
            problem := 'an entry must be an object';
        elsif item is null or btrim(item) = '' then
            problem := 'item_id is missing';
        elsif char_length(item) > max_item_id_chars then
            problem := format('item_id is longer than %s characters', max_item_id_chars);
        elsif speaker_value is null or speaker_value not in ('candidate', 'interviewer') then
            problem := 'speaker must be candidate or interviewer';
        elsif text_value is null then
            problem := 'text is missing';
        elsif char_length(text_value) > max_text_chars then
            problem_code := 'line_too_long';
            problem := format('the line has %s characters; the limit is %s',
                char_length(text_value), max_text_chars);
        elsif seq_value is null or seq_value < 0 or started_value is null or started_value < 0 then
            problem := 'seq and started_ms must be present and not negative';
        elsif ended_value is not null and ended_value < started_value then
            problem_code := 'ends_before_start';
            problem := 'the line ends before it starts';
        end if;
        if problem is not null then
            rejected := rejected || jsonb_build_array(jsonb_build_object(
                'item_id', coalesce(item, ''), 'code', problem_code, 'message', problem));
            continue;
        end if;
        insert into public.transcript_entries
            (tenant_id, session_id, item_id, seq, speaker, text, started_ms, ended_ms,
             reported_by, received_at, late)
        values
            (target.tenant_id, target.id, item, seq_value, speaker_value, text_value,
             started_value, ended_value, caller, now(),
             coalesce(now() > target.closed_at + late_after, false))
        on conflict (session_id, item_id) do nothing;
        get diagnostics inserted = row_count;
        accepted := accepted + inserted;
        duplicates := duplicates + (1 - inserted);
    end loop;
    return jsonb_build_object('accepted', accepted, 'duplicates', duplicates, 'rejected', rejected);
end;
$$;
