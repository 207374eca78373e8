//! Analytics over a SQLite database, written with the macros: a model lists the tables, reads
//! their schemas, runs read-only queries, and (after a human approves) changes data.
//!
//! ```text
//! sqlite-analytics                      # stdio, on a sample shop database made on first run
//! sqlite-analytics shop.db              # stdio, on your database
//! sqlite-analytics --port 8000          # Streamable HTTP at http://127.0.0.1:8000/mcp
//! sqlite-analytics --sample ./demo.db   # make (if missing) and serve a sample at this path
//! ```
//!
//! Reading is enforced by SQLite itself, never by looking at the SQL: queries run on a
//! connection opened read-only, under an authorizer that allows reading tables, calling
//! functions and a few schema pragmas and denies everything else (writes, `ATTACH`,
//! transactions, pragmas that change settings). Each query stops after `--max-rows` rows (or 4
//! MiB of values; no single value may exceed 1 MiB) and is interrupted by SQLite's progress
//! handler after `--timeout-ms` or when the client cancels. The one tool that writes, `execute`,
//! runs only after a human approves it (`approval = "required"`: through the client's
//! elicitation, or refused when the client has none), and its
//! authorizer still refuses schema changes. All SQLite work runs on tokio's blocking threads.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use clap::Parser;
use mcp_server::types::{CallToolResult, ContentBlock, JsonObject, PromptMessage};
use mcp_server::{Context, Error, IntoToolResult, Json, Server, State, prompt, resource, tool};
use rusqlite::hooks::{AuthAction, AuthContext, Authorization};
use rusqlite::limits::Limit;
use rusqlite::types::ValueRef;
use rusqlite::{Connection, OpenFlags};
use serde_json::Value;

/// Command line.
#[derive(Debug, Parser)]
#[command(about = "An MCP server for analytics over a SQLite database")]
struct Args {
    /// The database to serve (it must exist). Without it, a sample shop database is made on
    /// first run in the system's temporary directory and served.
    database: Option<PathBuf>,
    /// Make the sample database at this path if it does not exist, and serve it.
    #[arg(long, conflicts_with = "database")]
    sample: Option<PathBuf>,
    /// Serve Streamable HTTP on 127.0.0.1:PORT (path `/mcp`) instead of stdio.
    #[arg(long)]
    port: Option<u16>,
    /// The most rows a query returns.
    #[arg(long, default_value_t = 500)]
    max_rows: usize,
    /// How long a query may run, in milliseconds, before SQLite interrupts it.
    #[arg(long, default_value_t = 5_000)]
    timeout_ms: u64,
}

/// The database and the limits: the server's shared state.
struct Db {
    path: PathBuf,
    max_rows: usize,
    timeout: Duration,
}

/// The largest string or blob a query may make, in bytes.
const MAX_VALUE_BYTES: i32 = 1 << 20;

/// The most bytes of text and blobs a query's result holds before it is cut (`truncated`).
const MAX_RESULT_BYTES: usize = 4 << 20;

/// The tables, read at startup: what completion offers for `{table}`.
static TABLES: OnceLock<Vec<String>> = OnceLock::new();

/// Pragmas a read-only query may use: they describe the schema and change nothing.
const SCHEMA_PRAGMAS: &[&str] = &[
    "table_info",
    "table_xinfo",
    "table_list",
    "index_list",
    "index_info",
    "index_xinfo",
    "foreign_key_list",
];

/// The authorizer of the read-only connection: reading and functions, nothing else.
fn read_only(ctx: AuthContext<'_>) -> Authorization {
    match ctx.action {
        AuthAction::Select
        | AuthAction::Read { .. }
        | AuthAction::Function { .. }
        | AuthAction::Recursive => Authorization::Allow,
        AuthAction::Pragma {
            pragma_name,
            pragma_value: _,
        } if SCHEMA_PRAGMAS.contains(&pragma_name.to_ascii_lowercase().as_str()) => {
            Authorization::Allow
        }
        _ => Authorization::Deny,
    }
}

/// The authorizer of `execute`: rows may change, the schema and the connection may not.
fn data_only(ctx: AuthContext<'_>) -> Authorization {
    match ctx.action {
        AuthAction::Select
        | AuthAction::Read { .. }
        | AuthAction::Function { .. }
        | AuthAction::Recursive
        | AuthAction::Insert { .. }
        | AuthAction::Update { .. }
        | AuthAction::Delete { .. } => Authorization::Allow,
        _ => Authorization::Deny,
    }
}

impl Db {
    /// A connection that can only read: opened read-only, under [`read_only`], interrupted at
    /// the deadline or when `cancelled` is set.
    fn reader(&self, cancelled: Arc<AtomicBool>) -> Result<Connection, Error> {
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(&self.path, flags).map_err(Error::internal)?;
        conn.authorizer(Some(read_only));
        // No single value larger than 1 MiB (`randomblob(1e9)` fails instead of allocating).
        conn.set_limit(Limit::SQLITE_LIMIT_LENGTH, MAX_VALUE_BYTES)
            .map_err(Error::internal)?;
        let deadline = Instant::now() + self.timeout;
        // Called every 1,000 virtual machine instructions; `true` interrupts the statement.
        conn.progress_handler(
            1_000,
            Some(move || cancelled.load(Ordering::Relaxed) || Instant::now() >= deadline),
        );
        Ok(conn)
    }

    /// The names of the tables (not SQLite's own), sorted.
    fn table_names(conn: &Connection) -> rusqlite::Result<Vec<String>> {
        let mut stmt = conn.prepare(
            "SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name",
        )?;
        stmt.query_map([], |row| row.get(0))?.collect()
    }

    /// The description of a table, or `None` when there is no such table.
    fn describe(conn: &Connection, table: &str) -> rusqlite::Result<Option<TableSchema>> {
        let sql: Option<String> = conn
            .query_row(
                "SELECT sql FROM sqlite_schema WHERE type = 'table' AND name = ?1",
                [table],
                |row| row.get(0),
            )
            .map(Some)
            .or_else(|e| match e {
                rusqlite::Error::QueryReturnedNoRows => Ok(None),
                e => Err(e),
            })?;
        let Some(sql) = sql else {
            return Ok(None);
        };
        let mut stmt = conn.prepare(
            "SELECT name, type, \"notnull\", dflt_value, pk FROM pragma_table_info(?1) ORDER BY cid",
        )?;
        let columns = stmt
            .query_map([table], |row| {
                Ok(Column {
                    name: row.get(0)?,
                    r#type: row.get(1)?,
                    not_null: row.get(2)?,
                    default: row.get(3)?,
                    primary_key: row.get::<_, i64>(4)? > 0,
                })
            })?
            .collect::<rusqlite::Result<_>>()?;
        let mut stmt = conn.prepare(
            "SELECT \"from\", \"table\", \"to\" FROM pragma_foreign_key_list(?1) ORDER BY id, seq",
        )?;
        let foreign_keys = stmt
            .query_map([table], |row| {
                Ok(ForeignKey {
                    column: row.get(0)?,
                    references_table: row.get(1)?,
                    references_column: row.get(2)?,
                })
            })?
            .collect::<rusqlite::Result<_>>()?;
        // The name is one the schema holds: quoting it as an identifier is safe.
        let rows = conn.query_row(
            &format!("SELECT count(*) FROM \"{}\"", table.replace('"', "\"\"")),
            [],
            |row| row.get(0),
        )?;
        Ok(Some(TableSchema {
            name: table.to_owned(),
            columns,
            foreign_keys,
            rows,
            sql,
        }))
    }
}

/// Runs blocking SQLite work on tokio's blocking threads, so that the runtime keeps serving.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, Error> + Send + 'static,
) -> Result<T, Error> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(Error::internal)?
}

/// The message the model reads for a failed statement: SQLite's own.
fn sqlite_error(e: rusqlite::Error, timeout: Duration, cancelled: bool) -> Error {
    statement_error(e, timeout, cancelled, "this tool only reads")
}

/// [`sqlite_error`], saying what the authorizer allows when it refuses.
fn statement_error(e: rusqlite::Error, timeout: Duration, cancelled: bool, allowed: &str) -> Error {
    match &e {
        rusqlite::Error::SqliteFailure(f, _)
            if f.code == rusqlite::ErrorCode::OperationInterrupted =>
        {
            if cancelled {
                Error::public("the query was cancelled")
            } else {
                Error::public(format!(
                    "the query ran longer than {} ms and was interrupted; narrow it or add a LIMIT",
                    timeout.as_millis()
                ))
            }
        }
        rusqlite::Error::SqliteFailure(f, _)
            if f.code == rusqlite::ErrorCode::AuthorizationForStatementDenied =>
        {
            Error::public(format!("SQLite refused the statement: {e} ({allowed})"))
        }
        rusqlite::Error::MultipleStatement => Error::public("send one statement at a time"),
        _ => Error::public(format!("SQLite: {e}")),
    }
}

/// A table and how many rows it has.
#[derive(Debug, serde::Serialize, schemars::JsonSchema)]
struct TableSummary {
    /// The table's name.
    name: String,
    /// How many rows it holds.
    rows: i64,
}

/// The tables of the database.
#[derive(Debug, serde::Serialize, schemars::JsonSchema)]
struct Tables {
    /// Every table, sorted by name.
    tables: Vec<TableSummary>,
}

/// A column of a table.
#[derive(Debug, serde::Serialize, schemars::JsonSchema)]
struct Column {
    /// Its name.
    name: String,
    /// Its declared type (`INTEGER`, `TEXT`, ...), empty when none was declared.
    r#type: String,
    /// Whether it is `NOT NULL`.
    not_null: bool,
    /// Its default value, as SQL; absent when it has none.
    #[serde(skip_serializing_if = "Option::is_none")]
    default: Option<String>,
    /// Whether it is part of the primary key.
    primary_key: bool,
}

/// A foreign key of a table.
#[derive(Debug, serde::Serialize, schemars::JsonSchema)]
struct ForeignKey {
    /// The column holding the reference.
    column: String,
    /// The table referred to.
    references_table: String,
    /// The column referred to; absent: its primary key.
    #[serde(skip_serializing_if = "Option::is_none")]
    references_column: Option<String>,
}

/// The schema of a table.
#[derive(Debug, serde::Serialize, schemars::JsonSchema)]
struct TableSchema {
    /// The table's name.
    name: String,
    /// Its columns, in order.
    columns: Vec<Column>,
    /// Its foreign keys.
    foreign_keys: Vec<ForeignKey>,
    /// How many rows it holds.
    rows: i64,
    /// The `CREATE TABLE` statement.
    sql: String,
}

/// The rows a query returned.
#[derive(Debug, serde::Serialize, schemars::JsonSchema)]
struct Rows {
    /// The names of the result's columns.
    columns: Vec<String>,
    /// The rows, each a list of values in column order (`null`, numbers, text; a blob as
    /// `"<blob: N bytes>"`).
    rows: Vec<Vec<Value>>,
    /// Whether the query had more rows than were returned.
    truncated: bool,
}

/// A query's result: the rows as structured content, and the same rows as a Markdown table for
/// a model or a person to read.
struct QueryResult(Rows);

impl IntoToolResult for QueryResult {
    fn output_schema() -> Option<JsonObject> {
        Some(mcp_server::schema::output_schema::<Rows>())
    }

    fn into_tool_result(self) -> mcp_server::Result<CallToolResult> {
        let rows = self.0;
        let text = markdown_table(&rows);
        let structured = serde_json::to_value(&rows).map_err(Error::internal)?;
        let mut result = CallToolResult::success(vec![ContentBlock::text(text)]);
        result.structured_content = Some(structured);
        Ok(result)
    }
}

/// The rows as a Markdown table, with a line saying how many there are.
fn markdown_table(rows: &Rows) -> String {
    fn cell(value: &Value) -> String {
        let text = match value {
            Value::Null => "NULL".to_owned(),
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        text.replace('|', "\\|").replace('\n', " ")
    }
    let mut out = String::new();
    out.push_str(&format!("| {} |\n", rows.columns.join(" | ")));
    out.push_str(&format!("|{}\n", "---|".repeat(rows.columns.len())));
    for row in &rows.rows {
        let cells: Vec<String> = row.iter().map(cell).collect();
        out.push_str(&format!("| {} |\n", cells.join(" | ")));
    }
    out.push_str(&format!(
        "\n{} row{}{}",
        rows.rows.len(),
        if rows.rows.len() == 1 { "" } else { "s" },
        if rows.truncated {
            " (truncated: the query has more; add a LIMIT or aggregate)"
        } else {
            ""
        }
    ));
    out
}

fn json_value(value: ValueRef<'_>) -> Value {
    match value {
        ValueRef::Null => Value::Null,
        ValueRef::Integer(i) => Value::from(i),
        ValueRef::Real(f) => serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number),
        ValueRef::Text(t) => Value::String(String::from_utf8_lossy(t).into_owned()),
        ValueRef::Blob(b) => Value::String(format!("<blob: {} bytes>", b.len())),
    }
}

/// List the tables of the database, with their row counts.
#[tool(title = "List tables", read_only, idempotent, scopes = ["db:read"])]
async fn list_tables(db: State<Db>) -> Result<Json<Tables>, Error> {
    let db = db.0.clone();
    blocking(move || {
        let conn = db.reader(Arc::default())?;
        let timeout = db.timeout;
        let names = Db::table_names(&conn).map_err(|e| sqlite_error(e, timeout, false))?;
        let tables = names
            .into_iter()
            .map(|name| {
                let rows = conn
                    .query_row(
                        &format!("SELECT count(*) FROM \"{}\"", name.replace('"', "\"\"")),
                        [],
                        |row| row.get(0),
                    )
                    .map_err(|e| sqlite_error(e, timeout, false))?;
                Ok(TableSummary { name, rows })
            })
            .collect::<Result<_, Error>>()?;
        Ok(Json(Tables { tables }))
    })
    .await
}

/// Describe a table: its columns, keys, row count and `CREATE TABLE` statement.
#[tool(title = "Describe a table", read_only, idempotent, scopes = ["db:read"])]
async fn describe_table(
    db: State<Db>,
    /// The table's name, as `list_tables` gives it.
    table: String,
) -> Result<Json<TableSchema>, Error> {
    let db = db.0.clone();
    blocking(move || {
        let conn = db.reader(Arc::default())?;
        match Db::describe(&conn, &table).map_err(|e| sqlite_error(e, db.timeout, false))? {
            Some(schema) => Ok(Json(schema)),
            None => Err(Error::public(format!(
                "no table named `{table}`; list_tables names them"
            ))),
        }
    })
    .await
}

/// Run one read-only SQL query (SQLite dialect) and return its rows. Statements that write, and
/// queries running past the time limit, are refused by the database engine.
#[tool(title = "Run a query", read_only, idempotent, scopes = ["db:read"])]
async fn query(
    db: State<Db>,
    cx: Context,
    /// One SQL statement, such as `SELECT country, count(*) FROM customers GROUP BY country`.
    sql: String,
    /// The most rows to return; at most the server's limit.
    max_rows: Option<usize>,
) -> Result<QueryResult, Error> {
    let db = db.0.clone();
    let limit = max_rows.unwrap_or(db.max_rows).min(db.max_rows);
    let cancelled = Arc::new(AtomicBool::new(false));
    let flag = cancelled.clone();
    let timeout = db.timeout;
    let work = tokio::task::spawn_blocking(move || {
        let conn = db.reader(flag.clone())?;
        let error = |e| sqlite_error(e, timeout, flag.load(Ordering::Relaxed));
        let mut stmt = conn.prepare(&sql).map_err(error)?;
        let columns: Vec<String> = stmt.column_names().into_iter().map(str::to_owned).collect();
        let mut rows = Vec::new();
        let mut truncated = false;
        let mut cursor = stmt.query([]).map_err(error)?;
        let mut bytes = 0;
        while let Some(row) = cursor.next().map_err(error)? {
            if rows.len() == limit || bytes > MAX_RESULT_BYTES {
                truncated = true;
                break;
            }
            let values = (0..columns.len())
                .map(|i| row.get_ref(i).map(json_value))
                .collect::<rusqlite::Result<Vec<_>>>()
                .map_err(error)?;
            bytes += values
                .iter()
                .map(|v| v.as_str().map_or(8, str::len))
                .sum::<usize>();
            rows.push(values);
        }
        Ok(QueryResult(Rows {
            columns,
            rows,
            truncated,
        }))
    });
    tokio::pin!(work);
    tokio::select! {
        done = &mut work => done.map_err(Error::internal)?,
        () = cx.cancelled() => {
            // The progress handler sees the flag within 1,000 instructions and interrupts.
            cancelled.store(true, Ordering::Relaxed);
            work.await.map_err(Error::internal)?
        }
    }
}

/// What `execute` changed.
#[derive(Debug, serde::Serialize, schemars::JsonSchema)]
struct Changed {
    /// How many rows were inserted, updated or deleted.
    rows_changed: usize,
}

/// Run one statement that changes data (`INSERT`, `UPDATE`, `DELETE`). A human approves each
/// call first; schema changes (`CREATE`, `DROP`, `ALTER`), `ATTACH` and pragmas are refused.
#[tool(
    title = "Change data",
    destructive,
    scopes = ["db:write"],
    approval = "required",
    timeout = "5min"
)]
async fn execute(
    db: State<Db>,
    /// One SQL statement that inserts, updates or deletes rows.
    sql: String,
) -> Result<Json<Changed>, Error> {
    let db = db.0.clone();
    blocking(move || {
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(&db.path, flags).map_err(Error::internal)?;
        conn.authorizer(Some(data_only));
        conn.busy_timeout(db.timeout).map_err(Error::internal)?;
        let deadline = Instant::now() + db.timeout;
        conn.progress_handler(1_000, Some(move || Instant::now() >= deadline));
        let rows_changed = conn.execute(&sql, []).map_err(|e| {
            statement_error(
                e,
                db.timeout,
                false,
                "this tool changes rows, not the schema",
            )
        })?;
        Ok(Json(Changed { rows_changed }))
    })
    .await
}

fn complete_table(typed: &str) -> Vec<String> {
    TABLES
        .get()
        .into_iter()
        .flatten()
        .filter(|t| t.starts_with(typed))
        .cloned()
        .collect()
}

/// The schema of a table: its columns, keys, row count and `CREATE TABLE` statement, as JSON.
#[resource(
    "sqlite://tables/{table}/schema",
    title = "Table schema",
    mime_type = "application/json",
    complete(table = complete_table),
    marker = SchemaResource
)]
async fn table_schema(db: State<Db>, table: String) -> Result<TableSchema, Error> {
    let db = db.0.clone();
    blocking(move || {
        let conn = db.reader(Arc::default())?;
        Db::describe(&conn, &table)
            .map_err(Error::internal)?
            .ok_or_else(|| Error::not_found(format!("sqlite://tables/{table}/schema")))
    })
    .await
}

/// Ask for an analysis of a table: what it holds, its distributions and outliers, and what
/// to look at next.
#[prompt(title = "Analyze a table", complete(table = complete_table))]
async fn analyze_table(
    db: State<Db>,
    /// The table to analyze.
    table: String,
    /// A question or an angle to focus on; a general overview when absent.
    focus: Option<String>,
) -> Result<Vec<PromptMessage>, Error> {
    let db = db.0.clone();
    let name = table.clone();
    let schema = blocking(move || {
        let conn = db.reader(Arc::default())?;
        Db::describe(&conn, &name).map_err(Error::internal)
    })
    .await?
    .ok_or_else(|| Error::invalid_params(format!("no table named `{table}`")))?;
    let schema = serde_json::to_string_pretty(&schema).map_err(Error::internal)?;
    Ok(vec![PromptMessage::user(format!(
        "Analyze the SQLite table `{table}`. Its schema (also at sqlite://tables/{table}/schema):\n\n\
         ```json\n{schema}\n```\n\n\
         Use the `query` tool (read-only SQL; results are capped, so aggregate) to find out what \
         the table holds, how its main columns are distributed, how it relates to the tables \
         its foreign keys name, and anything unusual (missing values, outliers, duplicates). \
         {}\nFinish with three findings, each backed by the query that shows it.",
        match &focus {
            Some(focus) => format!("Focus on: {focus}."),
            None => "Give a general overview.".to_owned(),
        }
    ))])
}

fn server(db: Db) -> Server {
    Server::new("sqlite-analytics", env!("CARGO_PKG_VERSION"))
        .instructions(
            "Analytics over a SQLite database. `list_tables` and `describe_table` show the schema \
             (also the resources sqlite://tables/{table}/schema); `query` runs read-only SQL and \
             returns capped rows, so aggregate in SQL. `execute` changes data, after a human \
             approves.",
        )
        .state(db)
        .tool(ListTables)
        .tool(DescribeTable)
        .tool(Query)
        .tool(Execute)
        .resource(SchemaResource)
        .prompt(AnalyzeTable)
}

/// The sample database: a small online shop's customers, products, orders and order lines,
/// generated from a fixed seed (about 11,000 rows).
mod sample {
    use rusqlite::{Connection, params};

    const FIRST: &[&str] = &[
        "Amelia", "Noah", "Olivia", "Liam", "Emma", "Mateo", "Sofia", "Lucas", "Mia", "Hugo",
        "Chloé", "Elias", "Ingrid", "Kenji", "Aiko", "Ravi", "Priya", "Omar", "Leila", "Diego",
        "Lucía", "Jonas", "Freya", "Tomasz", "Zofia", "Chen", "Mei", "Kwame", "Ama", "Sven",
    ];
    const LAST: &[&str] = &[
        "Smith",
        "García",
        "Müller",
        "Rossi",
        "Dubois",
        "Kowalski",
        "Tanaka",
        "Patel",
        "Haddad",
        "Silva",
        "Johansson",
        "Nguyen",
        "Okafor",
        "Novak",
        "Jensen",
        "Moreau",
        "Fischer",
        "Wang",
        "Kim",
        "Costa",
        "Larsen",
        "Hughes",
        "Schmidt",
        "Ivanova",
        "Mensah",
    ];
    /// Countries, weighted by how many customers come from them.
    const COUNTRIES: &[(&str, u32)] = &[
        ("US", 30),
        ("DE", 14),
        ("GB", 12),
        ("FR", 10),
        ("ES", 6),
        ("IT", 6),
        ("NL", 5),
        ("SE", 4),
        ("PL", 4),
        ("JP", 4),
        ("IN", 3),
        ("BR", 2),
    ];
    /// Categories with their products and price ranges in cents.
    const CATALOG: &[(&str, &[&str], (i64, i64))] = &[
        (
            "coffee",
            &[
                "Ethiopia Yirgacheffe",
                "Colombia Huila",
                "House Espresso",
                "Decaf Swiss Water",
                "Kenya AA",
                "Guatemala Antigua",
            ],
            (1_200, 2_600),
        ),
        (
            "tea",
            &[
                "Sencha",
                "Assam Breakfast",
                "Earl Grey",
                "Jasmine Pearls",
                "Rooibos",
                "Oolong Tieguanyin",
            ],
            (800, 2_200),
        ),
        (
            "equipment",
            &[
                "Pour-over Dripper",
                "Burr Grinder",
                "Gooseneck Kettle",
                "French Press",
                "Espresso Tamper",
                "Digital Scale",
                "Milk Frother",
            ],
            (1_900, 24_900),
        ),
        (
            "accessories",
            &[
                "Paper Filters (100)",
                "Travel Mug",
                "Ceramic Cup",
                "Cleaning Tablets",
                "Storage Canister",
                "Tea Infuser",
            ],
            (400, 3_500),
        ),
    ];
    const STATUSES: &[(&str, u32)] = &[
        ("delivered", 70),
        ("shipped", 12),
        ("paid", 8),
        ("refunded", 5),
        ("cancelled", 5),
    ];

    fn weighted<'a>(rng: &mut fastrand::Rng, items: &[(&'a str, u32)]) -> &'a str {
        let total: u32 = items.iter().map(|(_, w)| w).sum();
        let mut pick = rng.u32(0..total);
        for (item, weight) in items {
            if pick < *weight {
                return item;
            }
            pick -= weight;
        }
        items[items.len() - 1].0
    }

    /// A date `days` after 2024-01-01, as `YYYY-MM-DD`.
    fn date(days: i64) -> String {
        // Civil-from-days (Howard Hinnant's algorithm), from the Unix epoch.
        let z = days + 19_723 + 719_468; // 2024-01-01 is day 19,723 of the epoch
        let era = z.div_euclid(146_097);
        let doe = z - era * 146_097;
        let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let d = doy - (153 * mp + 2) / 5 + 1;
        let m = if mp < 10 { mp + 3 } else { mp - 9 };
        let y = yoe + era * 400 + i64::from(m <= 2);
        format!("{y:04}-{m:02}-{d:02}")
    }

    /// Creates the tables and fills them.
    pub(super) fn create(conn: &mut Connection) -> rusqlite::Result<()> {
        let mut rng = fastrand::Rng::with_seed(2024);
        let tx = conn.transaction()?;
        tx.execute_batch(
            "CREATE TABLE customers (
                 id INTEGER PRIMARY KEY,
                 name TEXT NOT NULL,
                 email TEXT NOT NULL UNIQUE,
                 country TEXT NOT NULL,
                 signed_up DATE NOT NULL
             );
             CREATE TABLE products (
                 id INTEGER PRIMARY KEY,
                 name TEXT NOT NULL,
                 category TEXT NOT NULL,
                 price_cents INTEGER NOT NULL CHECK (price_cents > 0)
             );
             CREATE TABLE orders (
                 id INTEGER PRIMARY KEY,
                 customer_id INTEGER NOT NULL REFERENCES customers(id),
                 ordered_on DATE NOT NULL,
                 status TEXT NOT NULL CHECK (status IN ('paid','shipped','delivered','refunded','cancelled'))
             );
             CREATE TABLE order_items (
                 order_id INTEGER NOT NULL REFERENCES orders(id),
                 product_id INTEGER NOT NULL REFERENCES products(id),
                 quantity INTEGER NOT NULL CHECK (quantity > 0),
                 unit_price_cents INTEGER NOT NULL,
                 PRIMARY KEY (order_id, product_id)
             );
             CREATE INDEX orders_by_customer ON orders(customer_id);
             CREATE INDEX orders_by_day ON orders(ordered_on);",
        )?;
        const CUSTOMERS: i64 = 600;
        let mut signed_up = Vec::new();
        {
            let mut insert = tx.prepare(
                "INSERT INTO customers (id, name, email, country, signed_up) VALUES (?1, ?2, ?3, ?4, ?5)",
            )?;
            for id in 1..=CUSTOMERS {
                let first = FIRST[rng.usize(..FIRST.len())];
                let last = LAST[rng.usize(..LAST.len())];
                let email = format!(
                    "{}.{}{id}@example.com",
                    first.to_lowercase(),
                    last.to_lowercase()
                );
                let day = rng.i64(0..640);
                signed_up.push(day);
                insert.execute(params![
                    id,
                    format!("{first} {last}"),
                    email,
                    weighted(&mut rng, COUNTRIES),
                    date(day)
                ])?;
            }
        }
        let mut prices = Vec::new();
        {
            let mut insert = tx.prepare(
                "INSERT INTO products (id, name, category, price_cents) VALUES (?1, ?2, ?3, ?4)",
            )?;
            let mut id = 0;
            for (category, names, (low, high)) in CATALOG {
                for name in *names {
                    id += 1;
                    // Whole units minus a cent, like every shop's.
                    let price = rng.i64(*low / 100..*high / 100) * 100 + 99;
                    prices.push(price);
                    insert.execute(params![id, name, category, price])?;
                }
            }
        }
        {
            let mut order = tx.prepare(
                "INSERT INTO orders (id, customer_id, ordered_on, status) VALUES (?1, ?2, ?3, ?4)",
            )?;
            let mut item = tx.prepare(
                "INSERT INTO order_items (order_id, product_id, quantity, unit_price_cents) VALUES (?1, ?2, ?3, ?4)",
            )?;
            for id in 1..=4_000i64 {
                // A few customers order a lot: square the uniform pick toward low ids.
                let pick = rng.f64();
                let customer = 1 + ((pick * pick) * CUSTOMERS as f64) as i64;
                let first_day = signed_up[(customer - 1) as usize];
                let day = first_day + rng.i64(0..=(700 - first_day));
                order.execute(params![
                    id,
                    customer,
                    date(day),
                    weighted(&mut rng, STATUSES)
                ])?;
                let lines = 1 + rng.usize(..3) + usize::from(rng.u8(..10) == 0) * 2;
                let mut products: Vec<usize> = (0..prices.len()).collect();
                rng.shuffle(&mut products);
                for &p in &products[..lines] {
                    let quantity = if rng.u8(..5) == 0 { rng.i64(2..=4) } else { 1 };
                    // A tenth of the lines were sold at a 15% discount.
                    let price = if rng.u8(..10) == 0 {
                        prices[p] * 85 / 100
                    } else {
                        prices[p]
                    };
                    item.execute(params![id, p as i64 + 1, quantity, price])?;
                }
            }
        }
        tx.commit()
    }

    #[cfg(test)]
    #[test]
    fn dates() {
        assert_eq!(date(0), "2024-01-01");
        assert_eq!(date(59), "2024-02-29");
        assert_eq!(date(366), "2025-01-01");
    }
}

/// The database to serve: the one named, or the sample (made if missing).
fn database(args: &Args) -> Result<PathBuf, String> {
    if let Some(path) = &args.database {
        if !path.is_file() {
            return Err(format!("{}: no such database file", path.display()));
        }
        return Ok(path.clone());
    }
    let path = args
        .sample
        .clone()
        .unwrap_or_else(|| std::env::temp_dir().join("mcp-sqlite-analytics-sample.db"));
    if !path.exists() {
        make_sample(&path)
            .map_err(|e| format!("{}: cannot make the sample: {e}", path.display()))?;
        eprintln!(
            "sqlite-analytics: made the sample database {}",
            path.display()
        );
    }
    Ok(path)
}

fn make_sample(path: &Path) -> std::io::Result<()> {
    // Made under another name and renamed, so that an interrupted run leaves no half database.
    let partial = path.with_extension("partial");
    let _ = std::fs::remove_file(&partial);
    let mut conn = Connection::open(&partial).map_err(std::io::Error::other)?;
    sample::create(&mut conn).map_err(std::io::Error::other)?;
    drop(conn);
    std::fs::rename(&partial, path)
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .init();
    let args = Args::parse();
    let path = database(&args).unwrap_or_else(|e| {
        eprintln!("sqlite-analytics: {e}");
        std::process::exit(2);
    });
    let db = Db {
        path,
        max_rows: args.max_rows,
        timeout: Duration::from_millis(args.timeout_ms),
    };
    // A file that is not a database, or cannot be read, is refused here with SQLite's reason.
    let tables = Connection::open_with_flags(&db.path, OpenFlags::SQLITE_OPEN_READ_ONLY)
        .and_then(|conn| Db::table_names(&conn))
        .unwrap_or_else(|e| {
            eprintln!("sqlite-analytics: {}: {e}", db.path.display());
            std::process::exit(2);
        });
    TABLES.set(tables).expect("set once");
    let server = server(db);
    match args.port {
        Some(port) => mcp_server::http::serve_local(server, port).await,
        None => server.serve_stdio().await,
    }
}

#[cfg(test)]
mod tests {
    use mcp_client::testing::{InProcess, Recorder, connect};
    use mcp_server::mcp_core::ProtocolVersion;
    use serde_json::{Value, json};

    use super::*;

    /// A server on a fresh sample database, with a 200 ms query timeout.
    fn fixture() -> (tempfile::TempDir, Server) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sample.db");
        make_sample(&path).unwrap();
        let db = Db {
            path,
            max_rows: 500,
            timeout: Duration::from_millis(200),
        };
        let conn = db.reader(Arc::default()).unwrap();
        let _ = TABLES.set(Db::table_names(&conn).unwrap());
        (dir, server(db))
    }

    fn text(result: &CallToolResult) -> &str {
        result.content[0].as_text().unwrap()
    }

    #[tokio::test]
    async fn only_reading_gets_past_the_engine() {
        let (_dir, server) = fixture();
        let client = connect(server).await.unwrap();
        for sql in [
            "DELETE FROM orders",
            "UPDATE products SET price_cents = 1",
            "DROP TABLE orders",
            "CREATE TABLE t (x)",
            "PRAGMA journal_mode = DELETE",
            "ATTACH DATABASE ':memory:' AS other",
            "BEGIN",
            "select 1; delete from orders",
        ] {
            let r = client
                .call_tool("query", json!({ "sql": sql }))
                .await
                .unwrap();
            assert_eq!(r.is_error, Some(true), "{sql}");
            assert_eq!(
                text(&r),
                "SQLite refused the statement: not authorized (this tool only reads)",
                "{sql}"
            );
        }
        let r = client
            .call_tool("query", json!({"sql": "SELECT count(*) AS n FROM orders"}))
            .await
            .unwrap();
        assert_eq!(
            r.structured_content,
            Some(json!({"columns": ["n"], "rows": [[4000]], "truncated": false}))
        );
        assert_eq!(text(&r), "| n |\n|---|\n| 4000 |\n\n1 row");
    }

    #[tokio::test]
    async fn bad_sql_long_queries_and_huge_values_are_error_results() {
        let (_dir, server) = fixture();
        let client = connect(server).await.unwrap();
        let call = |sql: &str| client.call_tool("query", json!({ "sql": sql }));
        let r = call("SELECT nope FROM orders").await.unwrap();
        assert_eq!(r.is_error, Some(true));
        assert_eq!(
            text(&r),
            "SQLite: no such column: nope in SELECT nope FROM orders at offset 7"
        );
        let r = call("WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c")
            .await
            .unwrap();
        assert_eq!(r.is_error, Some(true));
        assert_eq!(
            text(&r),
            "the query ran longer than 200 ms and was interrupted; narrow it or add a LIMIT"
        );
        let r = call("SELECT randomblob(2000000)").await.unwrap();
        assert_eq!(r.is_error, Some(true));
        assert_eq!(text(&r), "SQLite: string or blob too big");
        let r = call("SELECT id FROM customers ORDER BY id").await.unwrap();
        let rows = r.structured_content.unwrap();
        assert_eq!(rows["rows"].as_array().unwrap().len(), 500);
        assert_eq!(rows["truncated"], true);
    }

    #[tokio::test]
    async fn execute_runs_only_once_a_human_approves() {
        let (_dir, server) = fixture();
        let delete = json!({"sql": "DELETE FROM order_items WHERE order_id = 7"});
        let count = json!({"sql": "SELECT count(*) FROM order_items WHERE order_id = 7"});
        let client = connect(server.clone()).await.unwrap();
        let r = client.call_tool("execute", &delete).await.unwrap();
        assert_eq!(r.is_error, Some(true));
        assert!(
            text(&r).starts_with("not approved: this tool requires approval"),
            "{}",
            text(&r)
        );
        let before = client.call_tool("query", &count).await.unwrap();
        assert_ne!(before.structured_content.unwrap()["rows"], json!([[0]]));

        let recorder = Recorder::new().accept(json!({"approve": true}));
        let approving = InProcess::new(server)
            .protocol_version(ProtocolVersion::V2025_06_18)
            .handler(recorder.clone())
            .connect()
            .await
            .unwrap();
        let r = approving.call_tool("execute", &delete).await.unwrap();
        assert_eq!(r.is_error, None, "{r:?}");
        assert!(
            r.structured_content.unwrap()["rows_changed"]
                .as_u64()
                .unwrap()
                >= 1
        );
        assert_eq!(recorder.elicitations().len(), 1);
        let after = client.call_tool("query", &count).await.unwrap();
        assert_eq!(after.structured_content.unwrap()["rows"], json!([[0]]));
    }

    #[tokio::test]
    async fn schemas_are_resources_with_completed_table_names() {
        let (_dir, server) = fixture();
        let client = connect(server).await.unwrap();
        let contents = client
            .read_resource("sqlite://tables/orders/schema")
            .await
            .unwrap();
        let mcp_server::types::ResourceContents::Text(text) = &contents[0] else {
            panic!("{contents:?}")
        };
        let schema: Value = serde_json::from_str(&text.text).unwrap();
        assert_eq!(schema["rows"], 4000);
        assert_eq!(
            schema["foreign_keys"],
            json!([{"column": "customer_id", "references_table": "customers", "references_column": "id"}])
        );
        assert!(
            client
                .read_resource("sqlite://tables/nope/schema")
                .await
                .is_err()
        );
        let reference = mcp_server::types::CompletionReference::Resource(
            mcp_server::types::ResourceTemplateReference {
                uri: "sqlite://tables/{table}/schema".into(),
                ..Default::default()
            },
        );
        let completion = client.complete(reference, "table", "ord").await.unwrap();
        assert_eq!(completion.values, ["order_items", "orders"]);
        let prompt = client
            .get_prompt("analyze_table", [("table", "products")])
            .await
            .unwrap();
        let message = serde_json::to_value(&prompt.messages[0]).unwrap();
        assert!(
            message["content"]["text"]
                .as_str()
                .unwrap()
                .starts_with("Analyze the SQLite table `products`.")
        );
    }
}
