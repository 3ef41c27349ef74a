//! A pooled connection and the statements prepared on it.
//!
//! Given a statement's text, the `postgres` crate prepares it unnamed at every call: two round
//! trips, and the server parses and plans the text again each time. The store's frequent
//! statements (evidence by id, journal entries, incident writes) are prepared once per
//! connection instead and run in one round trip.

use postgres::{Client, GenericClient, Statement};
use std::collections::HashMap;

/// Statements kept per connection at most. The store prepares a fixed set of texts; the bound
/// only keeps a text built per call from growing the map (and the server's memory) forever.
const MOST: usize = 64;

/// Statements prepared on one connection, by their text.
#[derive(Default)]
pub(crate) struct Statements(HashMap<String, Statement>);

impl Statements {
    /// `sql` prepared on the connection `client` runs on, once. A transaction may prepare:
    /// prepared statements belong to the session and outlive the transaction, even one rolled
    /// back.
    pub(crate) fn get(
        &mut self,
        client: &mut impl GenericClient,
        sql: &str,
    ) -> Result<Statement, postgres::Error> {
        if let Some(statement) = self.0.get(sql) {
            return Ok(statement.clone());
        }
        let statement = client.prepare(sql)?;
        if self.0.len() >= MOST {
            self.0.clear();
        }
        self.0.insert(sql.to_owned(), statement.clone());
        Ok(statement)
    }
}

/// A connection of the pool with the statements prepared on it, which go where it goes (a
/// broken connection is dropped with them). Derefs to the client for everything else.
pub(crate) struct Connection {
    client: Client,
    statements: Statements,
}

impl Connection {
    pub(crate) fn new(client: Client) -> Connection {
        Connection {
            client,
            statements: Statements::default(),
        }
    }

    /// `sql` prepared on this connection, once.
    pub(crate) fn prepared(&mut self, sql: &str) -> Result<Statement, postgres::Error> {
        self.statements.get(&mut self.client, sql)
    }

    /// The client and the statements apart, for a transaction that prepares its own.
    pub(crate) fn parts(&mut self) -> (&mut Client, &mut Statements) {
        (&mut self.client, &mut self.statements)
    }
}

impl std::ops::Deref for Connection {
    type Target = Client;

    fn deref(&self) -> &Client {
        &self.client
    }
}

impl std::ops::DerefMut for Connection {
    fn deref_mut(&mut self) -> &mut Client {
        &mut self.client
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The local `test` database unless `GARRISON_POSTGRES_URL` names another.
    fn connect() -> Connection {
        let url = std::env::var("GARRISON_POSTGRES_URL")
            .unwrap_or_else(|_| "host=127.0.0.1 user=postgres dbname=test".into());
        Connection::new(Client::connect(&url, postgres::NoTls).unwrap())
    }

    /// What the server holds prepared for this session (asked by the simple protocol, which
    /// prepares nothing itself).
    fn on_server(connection: &mut Connection) -> Vec<String> {
        connection
            .simple_query("SELECT statement FROM pg_prepared_statements ORDER BY statement")
            .unwrap()
            .into_iter()
            .filter_map(|message| match message {
                postgres::SimpleQueryMessage::Row(row) => row.get(0).map(str::to_owned),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn a_text_is_prepared_once_per_connection_and_outlives_a_rolled_back_transaction() {
        let mut connection = connect();
        let add = "SELECT $1::int8 + 1";
        let first = connection.prepared(add).unwrap();
        let again = connection.prepared(add).unwrap();
        // Both are one statement on the server.
        assert_eq!(on_server(&mut connection), [add]);
        drop(first);
        let row = connection.query_one(&again, &[&41_i64]).unwrap();
        assert_eq!(row.get::<_, i64>(0), 42);

        let double = "SELECT $1::int8 * 2";
        let (client, statements) = connection.parts();
        let mut transaction = client.transaction().unwrap();
        let inside = statements.get(&mut transaction, double).unwrap();
        transaction.rollback().unwrap();
        assert_eq!(on_server(&mut connection), [double, add]);
        let _kept = connection.prepared(double).unwrap();
        let row = connection.query_one(&inside, &[&21_i64]).unwrap();
        assert_eq!(row.get::<_, i64>(0), 42);
        assert_eq!(on_server(&mut connection), [double, add]);

        // Another connection prepares its own.
        let mut other = connect();
        assert!(on_server(&mut other).is_empty());
        let statement = other.prepared(add).unwrap();
        let row = other.query_one(&statement, &[&1_i64]).unwrap();
        assert_eq!(row.get::<_, i64>(0), 2);
    }

    #[test]
    fn texts_built_per_call_do_not_pile_up_on_the_server() {
        let mut connection = connect();
        for n in 0..MOST + 6 {
            let statement = connection.prepared(&format!("SELECT {n}::int8")).unwrap();
            let row = connection.query_one(&statement, &[]).unwrap();
            assert_eq!(row.get::<_, i64>(0), n as i64);
        }
        // The map was emptied once it held MOST; the statements it dropped were closed.
        assert_eq!(connection.statements.0.len(), 6);
        let held = on_server(&mut connection);
        assert_eq!(held.len(), 6, "{held:?}");
        assert_eq!(held[0], format!("SELECT {}::int8", MOST));
    }
}
