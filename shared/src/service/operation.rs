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

#[cfg(test)]
mod tests {
    use super::*;

    /// The one list that is not a `match`: an operation added to the enum must be given a
    /// position here (the match is exhaustive), and then fails this test until `ALL` holds it.
    #[test]
    fn all_holds_every_operation_once_in_order() {
        let position = |operation: Operation| match operation {
            Operation::CreateUser => 0,
            Operation::GetUser => 1,
            Operation::UpdateUser => 2,
            Operation::DeleteUser => 3,
            Operation::ListUsers => 4,
        };
        assert_eq!(Operation::ALL.map(position), [0, 1, 2, 3, 4]);
    }
}
