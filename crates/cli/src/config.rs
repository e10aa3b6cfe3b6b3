//! Configuration: defaults < `fulcrum.toml` < `FULCRUM_*` environment < command-line flags,
//! resolved once at start and validated with messages that name the bad setting.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use serde::{Deserialize, Serialize};

/// Every setting, with its default. The README's configuration table is checked against it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// `embedded` (llama.cpp in this process) or `remote` (the `upstreams`: vLLM, SGLang,
    /// llama-server or another OpenAI-compatible completions API).
    pub engine: EngineKind,
    /// The engines of `engine = "remote"`, replicas of one model (file only).
    pub upstreams: Vec<fulcrum_remote::UpstreamConfig>,
    /// Address to listen on.
    pub host: String,
    /// Port to listen on (0 picks a free one).
    pub port: u16,
    /// A catalogue model name (see `fulcrum models list`) or a path to a `.gguf` file.
    pub model: String,
    /// The model name clients send; defaults to the catalogue name or the file's stem.
    pub model_id: Option<String>,
    /// Folder for the model cache (`<home>/models`).
    pub home: Option<PathBuf>,
    /// Context size in tokens; defaults to the model's, capped at 32768.
    pub context_size: Option<u32>,
    /// Decoding threads; defaults to the number of physical cores.
    pub threads: Option<usize>,
    /// Sequences decoded together in one batch.
    pub slots: u32,
    /// Tokens per llama.cpp batch (prompt chunk size when no request is generating).
    pub batch_size: u32,
    /// Most prompt tokens per step beside requests that are generating.
    pub prefill_chunk_tokens: u32,
    /// Layers offloaded to the GPU (builds with the `cuda` feature).
    pub gpu_layers: u32,
    /// Largest accepted request body, in bytes.
    pub max_body_bytes: usize,
    /// `max_tokens` a request may ask for at most (above: 400); a request without it
    /// generates up to this many, or what the context leaves if less.
    pub max_tokens_limit: u32,
    /// Logit bias on the `<tool_call>` tag under `tool_choice: auto` (0 disables).
    pub tool_call_bias: f32,
    /// Logit bias on another call right after a finished one when parallel calls are allowed.
    pub parallel_call_bias: f32,
    /// Keep the calls of an `auto` answer by whether their required values are in the
    /// conversation: `some` (at least one), `every`, or `off`. An answer left without calls
    /// is generated again as text.
    pub call_grounding: fulcrum_agent::CallGrounding,
    /// Ask the model for one more call after its last when parallel calls are allowed, kept
    /// only when it brings a value of the request no earlier call used.
    pub probe_parallel_calls: bool,
    /// When parallel calls are allowed, make a call that used one member of a list the user
    /// wrote ("in 2017, 2018 and 2019") again for each other member.
    pub calls_for_lists: bool,
    /// With `calls_for_lists`: each member of a list is asked of every function a call used
    /// one of its members with, not only where no call used it yet.
    pub list_members_per_function: bool,
    /// When parallel calls are allowed, make a call that chose one of an enum's values the
    /// user names beside others ("the status and the trial date") again for each other one.
    pub calls_for_named_choices: bool,
    /// When parallel calls are allowed, make the one call of a function again with a flag
    /// the other way where the user asks for it both on and off.
    pub flags_both_ways: bool,
    /// Set a boolean argument as the user's message writes a word of its name: on where it
    /// is written plainly only, off where only after a negation.
    pub flags_as_written: bool,
    /// Set on an optional flag every call of its function leaves out where the user's
    /// message asks for it by a word of its name or description, plainly only.
    pub flags_asked_for: bool,
    /// When parallel calls are allowed, call a function called with another's values again
    /// for that other's other values where the message names it after them.
    pub companion_calls: bool,
    /// When parallel calls are allowed, make a lone call one call per request where the
    /// message writes its options in requests that are variants of one another.
    pub variants_as_calls: bool,
    /// When parallel calls are allowed, make every pairing of two lists the user wrote that
    /// the calls of one function take their values from, unless the message pairs them.
    pub calls_for_list_combinations: bool,
    /// With `probe_parallel_calls`: when the extra call repeats earlier ones and the user
    /// wrote a number no call used, ask again with the first argument held to new values.
    pub probe_other_values: bool,
    /// With `probe_parallel_calls`: when the extra call repeats earlier ones, ask again with
    /// a number argument chosen among the numbers the user wrote that no call used.
    pub probe_unused_numbers: bool,
    /// With `probe_parallel_calls`: when the extra calls bring nothing new, ask once more
    /// with a string argument chosen among the names the user wrote that no call used and
    /// that follow the same word as its value.
    pub probe_unused_names: bool,
    pub drop_copied_values: bool,
    pub pronouns_are_values: bool,
    /// A string value that copies its parameter's description counts as found.
    pub descriptions_are_values: bool,
    pub other_functions_by_name: bool,
    /// A two- or three-letter word of a function's name names it where the message writes it
    /// in capitals ("GDP").
    pub acronyms_name_functions: bool,
    /// When parallel calls are allowed, keep a call of a function other than those called
    /// only when the user's message holds a word of its name or description that theirs do
    /// not.
    pub other_functions_asked: bool,
    /// With `other_functions_asked`, in an English message that asks several things: a call
    /// of a function the message names no word of is still asked for when it carries two
    /// values the message writes and no other call used.
    pub functions_asked_by_values: bool,
    /// When parallel calls are allowed, swap back the values two calls of different
    /// functions hold of one argument where the message writes each beside the other's name.
    pub values_beside_their_functions: bool,
    /// When parallel calls are allowed, leave an optional value written once, in a sentence
    /// of another call's values and none of this one's, out of calls of the same function.
    pub optionals_in_their_sentence: bool,
    /// When parallel calls are allowed, hold each call of one function to the items of a
    /// list argument its part of the message names, where every call's part names some.
    pub list_items_in_their_parts: bool,
    /// When parallel calls are allowed, set a flag of each call of one function as the
    /// call's own part of the message writes it.
    pub flags_in_their_parts: bool,
    /// When parallel calls are allowed, drop a call whose only new values are parts of the
    /// values an earlier call of its function gave the same arguments.
    pub parts_of_values_not_new: bool,
    /// In `auto`, answering a user's message: take the call path when the model's first
    /// choice is one the grammar refuses as the start of text (a bare JSON object, a fence).
    pub call_on_refused_start: bool,
    /// Leave out of a call the optional arguments whose values are nowhere in the
    /// conversation: the model made them up, and the tool's defaults should apply.
    pub ground_optional_arguments: bool,
    /// Leave out of a call the optional choices (enum values) the user's message does not
    /// name: the tool's defaults should apply.
    pub ground_optional_choices: bool,
    /// Leave out of a call an optional flag set to `true` (not its default) that the user's
    /// message does not ask for by a word of its name or description.
    pub optional_flags_asked: bool,
    /// Where a list argument holds every value of its enum, leave out the choices the user's
    /// message does not name, when it names some.
    pub ground_listed_choices: bool,
    /// In a list of free strings, leave out the items nobody wrote beside some the user did.
    pub ground_list_items: bool,
    /// Leave out of a string argument a year another argument of the call carries.
    pub years_in_their_own_argument: bool,
    /// Leave out of an end of a string argument the value another argument carries.
    pub values_in_their_own_argument: bool,
    /// Leave the article of the user's sentence out of a string value that starts with it.
    pub drop_sentence_articles: bool,
    /// Swap a call's start and end arguments where the message writes "from <end> to <start>".
    pub ends_as_written: bool,
    /// Call the function the message names by every word of its name, not answer in text.
    pub named_functions_called: bool,
    /// Write a string argument in the form its description lists the value in.
    pub values_as_described: bool,
    /// Write a date in words as ISO 8601 where its parameter asks for no form.
    pub dates_in_words_as_iso: bool,
    /// Give a coordinate the user wrote as south or west its negative sign.
    pub hemispheres_as_signs: bool,
    pub units_as_written: bool,
    pub optional_choices_named: bool,
    pub currencies_as_codes: bool,
    pub drop_copied_numbers: bool,
    /// Where an argument's description asks for a city and its state and the call gives the
    /// city alone, ask the model for the state.
    pub city_with_state: bool,
    /// Set a number the user wrote with a scale word ("8.5 million") that a call carries off
    /// by a power of ten (850000000) back to what was written.
    pub numbers_at_written_scale: bool,
    /// Set a percentage the user wrote ("5%") that a call carries as its points (5) to its
    /// value (0.05), in a number that is not said to be in percent.
    pub percentages_as_fractions: bool,
    /// Set a percentage the user wrote ("5%") that a call carries as its value (0.05) to its
    /// points (5), in a number said to be in percent and not a decimal.
    pub percentages_as_points: bool,
    /// Set a number nobody wrote whose digits are two neighbouring members of a number list
    /// the user wrote, run together (1520 for "15, 20 and 30"), to the first of them, and a
    /// time on the hour carried without its colon (2200 for "22:00") to its hour.
    pub numbers_run_together: bool,
    /// Set a number the user wrote as a percentage and plainly too to the percentage's value
    /// where the calls use it more often than it is written plainly.
    pub percentages_beside_plain_numbers: bool,
    /// Where the message pairs its lists member by member ("respectively"), give each call
    /// filling two arguments from two such lists the pair the message writes.
    pub lists_paired_in_order: bool,
    /// A call whose values are all used is still new where it moves values to other
    /// arguments, each written more often than it is used.
    pub moved_values_are_new: bool,
    /// When the call checks leave no call, generate the text answer from the conversation
    /// without the tools.
    pub text_answer_without_tools: bool,
    /// A text answer that writes a call of an offered tool as JSON or markup takes the call
    /// path instead.
    pub calls_written_as_text: bool,
    /// A text answer that only repeats the user's message takes the call path instead.
    pub call_after_echo: bool,
    /// Write a call's whole numbers that its tool's schema declares floats (`format: float`
    /// or `double`) with a fraction (`2.0`).
    pub floats_as_declared: bool,
    /// Write the whole numbers in an array of plain `number` items with a fraction.
    pub number_items_as_floats: bool,
    /// What the system prompt says about parallel calls in `auto`, where they are allowed:
    /// `off`, `rule` (one call for each thing asked) or `example` (the same, shown).
    pub parallel_call_guidance: fulcrum_agent::CallGuidance,
    /// In `auto`, answer in text instead of calls all of functions the user's message does
    /// not read as a request for, by the model's own reading (see
    /// `fulcrum_agent::ToolCallTuning`).
    pub call_relevance: bool,
    /// Nats per token of the message below which `call_relevance` drops a call.
    pub call_relevance_floor: f32,
    /// The floor instead, for a function each of whose calls invented a required value.
    pub call_relevance_floor_invented: f32,
    /// The floor instead, for a function each of whose calls invented a required number
    /// (one the conversation neither writes nor implies).
    pub call_relevance_floor_invented_number: f32,
    /// In the relevance check, a function named for the opposite of what the message asks
    /// is not what was asked, whatever its score.
    pub call_relevance_opposites: bool,
    /// The policy file (users, roles, databases, tools); unset serves the demo enterprise.
    pub policy: Option<PathBuf>,
    /// SQLite file for the audit log, pending actions and agent sessions.
    pub state_db: Option<PathBuf>,
    /// `postgres://user@host:port/database`: the audit log, pending actions and agent
    /// sessions in PostgreSQL, shared by every instance given the same URL (instead of
    /// `state_db`). The password, if any, belongs in `PGPASSWORD`, not here.
    pub state_url: Option<String>,
    /// `disk` (each audit row and action fsynced: survives power loss) or `process` (survives
    /// a crash of Fulcrum, not of the machine; no fsync per row).
    pub state_durability: fulcrum_tools::Durability,
    /// How long a sensitive call waits for its confirmation, in seconds.
    pub confirmation_ttl_secs: u64,
    /// Checkpoints of the audit log's head, kept outside its database (append-only JSON
    /// lines); default `<home>/audit-checkpoints.jsonl`.
    pub audit_checkpoints: Option<PathBuf>,
    /// A checkpoint after every this many audit rows (and one at each start).
    pub audit_checkpoint_every: u64,
    /// A file (mode 0600) holding the key checkpoints are signed with; else the key comes
    /// from `$FULCRUM_AUDIT_KEY`, else checkpoints are unsigned.
    pub audit_key_file: Option<PathBuf>,
    /// Model generations per agent turn at most.
    pub agent_max_steps: usize,
    /// Agent sessions one user may keep.
    pub agent_max_sessions_per_user: usize,
    /// A user's messages in one agent session at most.
    pub agent_max_session_messages: usize,
    /// Characters of one agent message at most.
    pub agent_max_message_chars: usize,
    /// Let the model make several calls in one agent step (run concurrently); off, it makes
    /// one call per step and sees each result before the next.
    pub agent_parallel_calls: bool,
    /// Show the agent's model the tools that act (writes, sensitive tools) which the caller's
    /// role may not use, so that a request for one is refused in words; off, only the role's
    /// tools are shown.
    pub agent_show_withheld_actions: bool,
    /// After tool results, ask the agent's model to answer in the language of the user's
    /// message (Chinese or English).
    pub agent_answer_in_users_language: bool,
    /// `text_answer_without_tools` for the agent: off by default, since without the tools the
    /// default model misreads the handbook passages it answers from (the ticket set).
    pub agent_text_answer_without_tools: bool,
    /// `call_relevance` for the agent: off by default, since with the demo's tools the
    /// default model's reading drops the right lookups of English live-data questions
    /// ("How much does the iPhone 15 cost?" calling `search_product`; the ticket set).
    pub agent_call_relevance: bool,
    pub prefix_cache: bool,
    /// End a generation that repeats one phrase or line over and over (the fourth copy in a
    /// row of 16 bytes or more, or a run of 256 bytes of a shorter unit) instead of letting it
    /// run to its token limit.
    pub stop_repetition: bool,
    /// Take the tokens a grammar forces (a call's name, argument names, punctuation)
    /// without sampling each: computed together at the next step (the embedded engine).
    pub jump_forward: bool,
    /// Most tokens kept in finished sequences for reuse; 0 = as many as the context allows.
    pub prefix_cache_tokens: usize,
    pub max_queue: usize,
    /// A chat completion or agent model step still unfinished this many seconds after it
    /// arrived (waiting for a slot included) is ended with a timeout error; 0 = no limit.
    pub request_timeout_secs: u64,
    /// Soft cap on an agent prompt in tokens (never more than the window leaves after the
    /// reply); older turns leave it into the session's summary and key events.
    pub context_max_tokens: usize,
    /// Agent turns before the current one kept verbatim in the prompt.
    pub context_recent_turns: usize,
    /// Tokens of an agent prompt's retrieved passages at most.
    pub context_passage_tokens: usize,
    /// Tokens of an agent prompt's memory (summary and key events of older turns) at most.
    pub context_memory_tokens: usize,
    /// Knowledge collections searched for every agent turn (passages in the prompt, limited
    /// by the collections' roles); empty = none.
    pub context_collections: Vec<String>,
    /// How long an agent answer to a session's first question (one that needed no tool) is
    /// reused for the same question from the same role; 0 = no answer cache.
    pub answer_cache_ttl_secs: u64,
    /// Load the sentence-embedding model at start and serve it at `/v1/embeddings` (it also
    /// ranks document searches by meaning); off, neither.
    pub serve_embeddings: bool,
    /// Log filter (`tracing` env-filter syntax), e.g. `info` or `fulcrum=debug`.
    pub log: String,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            engine: EngineKind::Embedded,
            upstreams: Vec::new(),
            host: "127.0.0.1".into(),
            port: 8080,
            model: fulcrum_models::DEFAULT_MODEL.into(),
            model_id: None,
            home: None,
            context_size: None,
            threads: None,
            slots: 8,
            batch_size: 512,
            prefill_chunk_tokens: fulcrum_engine::DEFAULT_PREFILL_CHUNK_TOKENS,
            gpu_layers: 0,
            max_body_bytes: 4 * 1024 * 1024,
            max_tokens_limit: 4096,
            tool_call_bias: fulcrum_agent::DEFAULT_TOOL_CALL_BIAS,
            parallel_call_bias: fulcrum_agent::DEFAULT_PARALLEL_CALL_BIAS,
            call_grounding: fulcrum_agent::CallGrounding::default(),
            probe_parallel_calls: true,
            calls_for_lists: true,
            list_members_per_function: true,
            calls_for_named_choices: true,
            flags_both_ways: true,
            flags_as_written: true,
            flags_asked_for: true,
            companion_calls: true,
            variants_as_calls: true,
            calls_for_list_combinations: true,
            probe_other_values: true,
            probe_unused_numbers: true,
            probe_unused_names: true,
            drop_copied_values: true,
            pronouns_are_values: false,
            descriptions_are_values: false,
            other_functions_by_name: true,
            acronyms_name_functions: true,
            other_functions_asked: true,
            functions_asked_by_values: true,
            values_beside_their_functions: true,
            optionals_in_their_sentence: true,
            list_items_in_their_parts: true,
            flags_in_their_parts: true,
            parts_of_values_not_new: true,
            call_on_refused_start: true,
            ground_optional_arguments: true,
            ground_optional_choices: true,
            optional_flags_asked: true,
            ground_listed_choices: true,
            ground_list_items: true,
            years_in_their_own_argument: true,
            values_in_their_own_argument: true,
            drop_sentence_articles: true,
            ends_as_written: true,
            named_functions_called: true,
            values_as_described: true,
            dates_in_words_as_iso: true,
            hemispheres_as_signs: true,
            units_as_written: true,
            optional_choices_named: true,
            currencies_as_codes: true,
            drop_copied_numbers: true,
            city_with_state: true,
            numbers_at_written_scale: true,
            percentages_as_fractions: true,
            percentages_as_points: true,
            numbers_run_together: true,
            percentages_beside_plain_numbers: true,
            lists_paired_in_order: true,
            moved_values_are_new: true,
            text_answer_without_tools: true,
            calls_written_as_text: true,
            call_after_echo: true,
            floats_as_declared: true,
            number_items_as_floats: true,
            parallel_call_guidance: fulcrum_agent::CallGuidance::default(),
            call_relevance: true,
            call_relevance_floor: fulcrum_agent::DEFAULT_CALL_RELEVANCE_FLOOR,
            call_relevance_floor_invented: fulcrum_agent::DEFAULT_CALL_RELEVANCE_FLOOR_INVENTED,
            call_relevance_floor_invented_number:
                fulcrum_agent::DEFAULT_CALL_RELEVANCE_FLOOR_INVENTED_NUMBER,
            call_relevance_opposites: true,
            policy: None,
            state_db: None,
            state_url: None,
            state_durability: fulcrum_tools::Durability::Disk,
            confirmation_ttl_secs: 900,
            audit_checkpoints: None,
            audit_checkpoint_every: 64,
            audit_key_file: None,
            agent_max_steps: 8,
            agent_max_sessions_per_user: 1_000,
            agent_max_session_messages: 500,
            agent_max_message_chars: 32_000,
            agent_parallel_calls: false,
            agent_show_withheld_actions: true,
            agent_answer_in_users_language: false,
            agent_text_answer_without_tools: false,
            agent_call_relevance: false,
            prefix_cache: true,
            stop_repetition: true,
            jump_forward: false,
            prefix_cache_tokens: 0,
            max_queue: 64,
            request_timeout_secs: 300,
            context_max_tokens: 20_000,
            context_recent_turns: 5,
            context_passage_tokens: 4_000,
            context_memory_tokens: 2_000,
            context_collections: Vec::new(),
            answer_cache_ttl_secs: 3600,
            serve_embeddings: true,
            log: "info".into(),
        }
    }
}

/// Which engine generates: llama.cpp here, or engines elsewhere.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum EngineKind {
    Embedded,
    Remote,
}

/// The keys of [`Config`], which are also the accepted `FULCRUM_<KEY>` variables.
pub const KEYS: [&str; 111] = [
    "engine",
    "upstreams",
    "host",
    "port",
    "model",
    "model_id",
    "home",
    "context_size",
    "threads",
    "slots",
    "batch_size",
    "prefill_chunk_tokens",
    "gpu_layers",
    "max_body_bytes",
    "max_tokens_limit",
    "tool_call_bias",
    "parallel_call_bias",
    "call_grounding",
    "probe_parallel_calls",
    "calls_for_lists",
    "list_members_per_function",
    "calls_for_named_choices",
    "flags_both_ways",
    "flags_as_written",
    "flags_asked_for",
    "companion_calls",
    "variants_as_calls",
    "calls_for_list_combinations",
    "probe_other_values",
    "probe_unused_numbers",
    "probe_unused_names",
    "drop_copied_values",
    "pronouns_are_values",
    "descriptions_are_values",
    "other_functions_by_name",
    "acronyms_name_functions",
    "other_functions_asked",
    "functions_asked_by_values",
    "values_beside_their_functions",
    "optionals_in_their_sentence",
    "list_items_in_their_parts",
    "flags_in_their_parts",
    "parts_of_values_not_new",
    "call_on_refused_start",
    "ground_optional_arguments",
    "ground_optional_choices",
    "optional_flags_asked",
    "ground_listed_choices",
    "ground_list_items",
    "years_in_their_own_argument",
    "values_in_their_own_argument",
    "drop_sentence_articles",
    "ends_as_written",
    "named_functions_called",
    "values_as_described",
    "dates_in_words_as_iso",
    "hemispheres_as_signs",
    "units_as_written",
    "optional_choices_named",
    "currencies_as_codes",
    "drop_copied_numbers",
    "city_with_state",
    "numbers_at_written_scale",
    "percentages_as_fractions",
    "percentages_as_points",
    "numbers_run_together",
    "percentages_beside_plain_numbers",
    "lists_paired_in_order",
    "moved_values_are_new",
    "text_answer_without_tools",
    "calls_written_as_text",
    "call_after_echo",
    "floats_as_declared",
    "number_items_as_floats",
    "parallel_call_guidance",
    "call_relevance",
    "call_relevance_floor",
    "call_relevance_floor_invented",
    "call_relevance_floor_invented_number",
    "call_relevance_opposites",
    "policy",
    "state_db",
    "state_url",
    "state_durability",
    "confirmation_ttl_secs",
    "audit_checkpoints",
    "audit_checkpoint_every",
    "audit_key_file",
    "agent_max_steps",
    "agent_max_sessions_per_user",
    "agent_max_session_messages",
    "agent_max_message_chars",
    "agent_parallel_calls",
    "agent_show_withheld_actions",
    "agent_answer_in_users_language",
    "agent_text_answer_without_tools",
    "agent_call_relevance",
    "prefix_cache",
    "prefix_cache_tokens",
    "stop_repetition",
    "jump_forward",
    "max_queue",
    "request_timeout_secs",
    "context_max_tokens",
    "context_recent_turns",
    "context_passage_tokens",
    "context_memory_tokens",
    "context_collections",
    "answer_cache_ttl_secs",
    "serve_embeddings",
    "log",
];

/// Flags every command takes: where the configuration comes from and what is logged.
#[derive(Debug, Default, Serialize, clap::Args)]
pub struct GlobalFlags {
    /// Configuration file [default: ./fulcrum.toml when present]
    #[arg(long, global = true)]
    #[serde(skip)]
    pub config: Option<PathBuf>,
    /// Log filter, e.g. `info` or `debug`
    #[arg(long, global = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log: Option<String>,
}

/// Flags of the commands that load the language model (serve, chat, bench engine, eval bfcl,
/// report). Only those present override the layers below.
#[derive(Debug, Default, Serialize, clap::Args)]
pub struct ModelFlags {
    /// A catalogue model name or a path to a .gguf file
    #[arg(long, short = 'm')]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// Model name clients send in requests
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model_id: Option<String>,
    /// Context size in tokens
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub context_size: Option<u32>,
    /// Decoding threads [default: physical cores]
    #[arg(long, short = 't')]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub threads: Option<usize>,
    /// Sequences decoded together
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub slots: Option<u32>,
    /// Layers to offload to the GPU
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gpu_layers: Option<u32>,
}

/// The flag of the commands that read the policy file (serve, keys, report).
#[derive(Debug, Default, Serialize, clap::Args)]
pub struct PolicyFlags {
    /// Policy file (users, roles, tools) [default: the demo enterprise]
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub policy: Option<PathBuf>,
}

/// Flags of `fulcrum serve` only.
#[derive(Debug, Default, Serialize, clap::Args)]
pub struct ServeFlags {
    /// Address to listen on
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// Port to listen on (0 picks a free port)
    #[arg(long, short = 'p')]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
}

/// One flag group as a layer.
pub fn layer(flags: &impl Serialize) -> serde_json::Value {
    serde_json::to_value(flags).unwrap_or(serde_json::Value::Null)
}

impl Config {
    /// The call-tag biases as the server and agent take them.
    pub fn tuning(&self) -> fulcrum_agent::ToolCallTuning {
        fulcrum_agent::ToolCallTuning {
            tool_call_bias: self.tool_call_bias,
            parallel_call_bias: self.parallel_call_bias,
            call_grounding: self.call_grounding,
            probe_parallel_calls: self.probe_parallel_calls,
            calls_for_lists: self.calls_for_lists,
            list_members_per_function: self.list_members_per_function,
            calls_for_named_choices: self.calls_for_named_choices,
            flags_both_ways: self.flags_both_ways,
            flags_as_written: self.flags_as_written,
            flags_asked_for: self.flags_asked_for,
            companion_calls: self.companion_calls,
            variants_as_calls: self.variants_as_calls,
            calls_for_list_combinations: self.calls_for_list_combinations,
            probe_other_values: self.probe_other_values,
            probe_unused_numbers: self.probe_unused_numbers,
            probe_unused_names: self.probe_unused_names,
            drop_copied_values: self.drop_copied_values,
            pronouns_are_values: self.pronouns_are_values,
            descriptions_are_values: self.descriptions_are_values,
            other_functions_by_name: self.other_functions_by_name,
            acronyms_name_functions: self.acronyms_name_functions,
            other_functions_asked: self.other_functions_asked,
            functions_asked_by_values: self.functions_asked_by_values,
            values_beside_their_functions: self.values_beside_their_functions,
            optionals_in_their_sentence: self.optionals_in_their_sentence,
            list_items_in_their_parts: self.list_items_in_their_parts,
            flags_in_their_parts: self.flags_in_their_parts,
            parts_of_values_not_new: self.parts_of_values_not_new,
            call_on_refused_start: self.call_on_refused_start,
            ground_optional_arguments: self.ground_optional_arguments,
            ground_optional_choices: self.ground_optional_choices,
            optional_flags_asked: self.optional_flags_asked,
            ground_listed_choices: self.ground_listed_choices,
            ground_list_items: self.ground_list_items,
            years_in_their_own_argument: self.years_in_their_own_argument,
            values_in_their_own_argument: self.values_in_their_own_argument,
            drop_sentence_articles: self.drop_sentence_articles,
            ends_as_written: self.ends_as_written,
            named_functions_called: self.named_functions_called,
            values_as_described: self.values_as_described,
            dates_in_words_as_iso: self.dates_in_words_as_iso,
            hemispheres_as_signs: self.hemispheres_as_signs,
            units_as_written: self.units_as_written,
            optional_choices_named: self.optional_choices_named,
            currencies_as_codes: self.currencies_as_codes,
            drop_copied_numbers: self.drop_copied_numbers,
            city_with_state: self.city_with_state,
            numbers_at_written_scale: self.numbers_at_written_scale,
            percentages_as_fractions: self.percentages_as_fractions,
            percentages_as_points: self.percentages_as_points,
            numbers_run_together: self.numbers_run_together,
            percentages_beside_plain_numbers: self.percentages_beside_plain_numbers,
            lists_paired_in_order: self.lists_paired_in_order,
            moved_values_are_new: self.moved_values_are_new,
            text_answer_without_tools: self.text_answer_without_tools,
            calls_written_as_text: self.calls_written_as_text,
            call_after_echo: self.call_after_echo,
            floats_as_declared: self.floats_as_declared,
            number_items_as_floats: self.number_items_as_floats,
            parallel_call_guidance: self.parallel_call_guidance,
            call_relevance: self.call_relevance,
            call_relevance_floor: self.call_relevance_floor,
            call_relevance_floor_invented: self.call_relevance_floor_invented,
            call_relevance_floor_invented_number: self.call_relevance_floor_invented_number,
            call_relevance_opposites: self.call_relevance_opposites,
        }
    }

    /// The HTTP layer's settings.
    pub fn server_options(&self) -> fulcrum_server::ServerOptions {
        fulcrum_server::ServerOptions {
            max_body_bytes: self.max_body_bytes,
            max_pending: self.slots as usize + self.max_queue,
            request_timeout: self.request_timeout(),
            tuning: self.tuning(),
            request_limits: fulcrum_server::RequestLimits {
                max_tokens: self.max_tokens_limit,
                ..fulcrum_server::RequestLimits::default()
            },
        }
    }

    /// How agent prompts share the window.
    pub fn context_budget(&self) -> fulcrum_agent::ContextBudget {
        fulcrum_agent::ContextBudget {
            max_prompt_tokens: self.context_max_tokens,
            recent_turns: self.context_recent_turns,
            passage_tokens: self.context_passage_tokens,
            memory_tokens: self.context_memory_tokens,
        }
    }

    /// The time limit of one generation, `None` when `request_timeout_secs` is 0.
    pub fn request_timeout(&self) -> Option<std::time::Duration> {
        (self.request_timeout_secs > 0)
            .then(|| std::time::Duration::from_secs(self.request_timeout_secs))
    }

    /// Layers the sources (defaults, the file, `FULCRUM_*`, the global flags, then the
    /// command's own flag groups) and validates the result.
    pub fn load(global: &GlobalFlags, command_flags: &[serde_json::Value]) -> Result<Self> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        match &global.config {
            Some(path) => {
                if !path.is_file() {
                    bail!("configuration file {} does not exist", path.display());
                }
                figment = figment.merge(Toml::file_exact(path));
            }
            None => {
                let default = Path::new("fulcrum.toml");
                if default.is_file() {
                    figment = figment.merge(Toml::file_exact(default));
                }
            }
        }
        figment = figment.merge(Env::prefixed("FULCRUM_").only(&KEYS));
        figment = figment.merge(Serialized::defaults(global));
        for flags in command_flags.iter().filter(|flags| flags.is_object()) {
            figment = figment.merge(Serialized::defaults(flags));
        }
        let config: Config = figment
            .extract()
            .map_err(|err| anyhow::anyhow!(describe(err)))?;
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> Result<()> {
        if let Some(url) = &self.state_url {
            if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
                bail!("invalid configuration: `state_url` must be a postgres:// URL, got `{url}`");
            }
            if self.state_db.is_some() {
                bail!("invalid configuration: `state_db` and `state_url` are both set: keep one (SQLite file or PostgreSQL)");
            }
        }
        if self.host.trim().is_empty() {
            bail!("invalid configuration: `host` is empty");
        }
        match self.engine {
            EngineKind::Remote if self.upstreams.is_empty() => bail!(
                "invalid configuration: `engine = \"remote\"` needs at least one `[[upstreams]]` entry (url, kind) in the configuration file"
            ),
            EngineKind::Embedded if !self.upstreams.is_empty() => bail!(
                "invalid configuration: `upstreams` are set but `engine` is `embedded`: set `engine = \"remote\"` to use them"
            ),
            _ => {}
        }
        if self.model.trim().is_empty() {
            bail!("invalid configuration: `model` is empty: give a catalogue name (`fulcrum models list`) or a .gguf path");
        }
        if let Some(threads) = self.threads {
            if threads == 0 || threads > 1024 {
                bail!("invalid configuration: `threads` must be between 1 and 1024, got {threads}");
            }
        }
        if self.slots == 0 || self.slots > 64 {
            bail!(
                "invalid configuration: `slots` must be between 1 and 64, got {}",
                self.slots
            );
        }
        if self.batch_size < 16 {
            bail!(
                "invalid configuration: `batch_size` must be at least 16, got {}",
                self.batch_size
            );
        }
        if self.prefill_chunk_tokens < 16 {
            bail!(
                "invalid configuration: `prefill_chunk_tokens` must be at least 16, got {}",
                self.prefill_chunk_tokens
            );
        }
        if let Some(context) = self.context_size {
            if context < 64 {
                bail!("invalid configuration: `context_size` must be at least 64 tokens, got {context}");
            }
        }
        if self.max_body_bytes < 1024 {
            bail!(
                "invalid configuration: `max_body_bytes` must be at least 1024, got {}",
                self.max_body_bytes
            );
        }
        for (key, value) in [
            ("tool_call_bias", self.tool_call_bias),
            ("parallel_call_bias", self.parallel_call_bias),
        ] {
            // OpenAI's own range for a logit bias.
            if !(-100.0..=100.0).contains(&value) {
                bail!("invalid configuration: `{key}` must be between -100 and 100, got {value}");
            }
        }
        for (key, value) in [
            ("call_relevance_floor", self.call_relevance_floor),
            (
                "call_relevance_floor_invented",
                self.call_relevance_floor_invented,
            ),
            (
                "call_relevance_floor_invented_number",
                self.call_relevance_floor_invented_number,
            ),
        ] {
            if !(-5.0..=5.0).contains(&value) {
                bail!("invalid configuration: `{key}` must be between -5 and 5 (nats per token), got {value}");
            }
        }
        if self.max_tokens_limit == 0 {
            bail!("invalid configuration: `max_tokens_limit` must be at least 1");
        }
        if self.audit_checkpoint_every == 0 {
            bail!("invalid configuration: `audit_checkpoint_every` must be at least 1");
        }
        if self.confirmation_ttl_secs == 0 {
            bail!("invalid configuration: `confirmation_ttl_secs` must be at least 1");
        }
        if self.context_max_tokens < 256 {
            bail!(
                "invalid configuration: `context_max_tokens` must be at least 256, got {}",
                self.context_max_tokens
            );
        }
        if self.context_passage_tokens + self.context_memory_tokens >= self.context_max_tokens {
            bail!(
                "invalid configuration: `context_passage_tokens` + `context_memory_tokens` ({}) must leave room in `context_max_tokens` ({}) for the system prompt and the turns",
                self.context_passage_tokens + self.context_memory_tokens,
                self.context_max_tokens
            );
        }
        if self.context_recent_turns > 100 {
            bail!(
                "invalid configuration: `context_recent_turns` must be at most 100, got {}",
                self.context_recent_turns
            );
        }
        if !(1..=64).contains(&self.agent_max_steps) {
            bail!(
                "invalid configuration: `agent_max_steps` must be between 1 and 64, got {}",
                self.agent_max_steps
            );
        }
        tracing_subscriber::EnvFilter::try_new(&self.log)
            .with_context(|| format!("invalid configuration: `log` filter {:?}", self.log))?;
        Ok(())
    }

    /// Fulcrum's folder: `home` setting, else `$FULCRUM_HOME`, else `~/.cache/fulcrum`.
    pub fn home_dir(&self) -> PathBuf {
        let models = self.models_dir();
        models
            .parent()
            .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
    }

    /// Where audit checkpoints go: `audit_checkpoints`, else `<home>/audit-checkpoints.jsonl`.
    pub fn audit_checkpoints_path(&self) -> PathBuf {
        self.audit_checkpoints
            .clone()
            .unwrap_or_else(|| self.home_dir().join("audit-checkpoints.jsonl"))
    }

    /// The key audit checkpoints are signed with: `audit_key_file`, else `$FULCRUM_AUDIT_KEY`.
    pub fn audit_key(&self) -> Result<Option<fulcrum_tools::AuditKey>, fulcrum_tools::ToolsError> {
        match &self.audit_key_file {
            Some(path) => fulcrum_tools::AuditKey::from_file(path).map(Some),
            None => Ok(fulcrum_tools::AuditKey::from_env()),
        }
    }

    /// The state database: `state_db`, else `<home>/state.db`.
    pub fn state_db_path(&self) -> PathBuf {
        self.state_db
            .clone()
            .unwrap_or_else(|| self.home_dir().join("state.db"))
    }

    /// The model cache folder: `home` setting, else `$FULCRUM_HOME`, else `~/.cache/fulcrum`.
    pub fn models_dir(&self) -> PathBuf {
        match &self.home {
            Some(home) => home.join("models"),
            None => fulcrum_models::ModelCache::default_dir(),
        }
    }
}

/// figment names the source of a bad value ("environment variable `FULCRUM_PORT`"); keep that.
fn describe(err: figment::Error) -> String {
    let mut out = String::from("invalid configuration: ");
    let mut first = true;
    for e in err {
        if !first {
            out.push_str("; ");
        }
        first = false;
        out.push_str(&e.to_string());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_list_matches_the_struct() {
        let value = serde_json::to_value(Config::default()).expect("serialise");
        let mut fields: Vec<&str> = value
            .as_object()
            .expect("object")
            .keys()
            .map(String::as_str)
            .collect();
        let mut keys = KEYS.to_vec();
        fields.sort_unstable();
        keys.sort_unstable();
        assert_eq!(fields, keys);
    }

    #[test]
    fn a_relevance_floor_outside_its_range_is_refused_by_name() {
        assert!(Config::default().validate().is_ok());
        for floor in [-5.5, 6.0, f32::NAN] {
            let config = Config {
                call_relevance_floor: floor,
                ..Config::default()
            };
            let err = config.validate().expect_err("refused");
            assert!(err.to_string().contains("`call_relevance_floor`"), "{err}");
            let config = Config {
                call_relevance_floor_invented: floor,
                ..Config::default()
            };
            let err = config.validate().expect_err("refused");
            assert!(
                err.to_string().contains("`call_relevance_floor_invented`"),
                "{err}"
            );
            let config = Config {
                call_relevance_floor_invented_number: floor,
                ..Config::default()
            };
            let err = config.validate().expect_err("refused");
            assert!(
                err.to_string()
                    .contains("`call_relevance_floor_invented_number`"),
                "{err}"
            );
        }
    }

    #[test]
    fn readme_documents_every_key() {
        let readme = include_str!("../../../README.md");
        for key in KEYS {
            assert!(
                readme.contains(&format!("| `{key}` |")),
                "README's configuration table lacks `{key}`"
            );
        }
    }
}
