//! The operations the service offers: the unit of routing, of deployment (one Lambda function
//! each) and of observation (the `operation` label of logs and metrics). Defined here, below both
//! the transport that routes to them and the middleware that observes them.

/// The five operations of the API; each is one Lambda function.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operation {
    CreateUser,
    GetUser,
    UpdateUser,
    DeleteUser,
    ListUsers,
}

impl Operation {
    pub const ALL: [Operation; 5] = [
        Operation::CreateUser,
        Operation::GetUser,
        Operation::UpdateUser,
        Operation::DeleteUser,
        Operation::ListUsers,
    ];

    /// The operation's name, which is also its function's binary and folder name.
    pub fn name(self) -> &'static str {
        match self {
            Operation::CreateUser => "create-user",
            Operation::GetUser => "get-user",
            Operation::UpdateUser => "update-user",
            Operation::DeleteUser => "delete-user",
            Operation::ListUsers => "list-users",
        }
    }
}
