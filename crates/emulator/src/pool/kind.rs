//! What a pool's sessions run, by its container type: which kernel runs code and shell commands, and what
//! the pool refuses.

use crate::config::{ContainerType, PoolSpec};
use crate::kernel::Flavor;
use crate::kernel::protocol::{Language, Work};

/// A pool's name, container type, and why it cannot run code, if it cannot.
#[derive(Debug, Clone)]
pub(crate) struct PoolKind {
    pub(crate) spec: PoolSpec,
    /// Why this pool's kernels cannot start on this machine (a `NodeLTS` pool without Node.js); the pool then
    /// refuses executions with this reason and keeps no ready sessions.
    pub(crate) unavailable: Option<String>,
}

impl PoolKind {
    /// The language code runs in, or `None` for a `Shell` pool (which runs shell commands only).
    pub(crate) fn code_language(&self) -> Option<Language> {
        match self.spec.container_type {
            ContainerType::PythonLts => Some(Language::Python),
            ContainerType::NodeLts => Some(Language::JavaScript),
            ContainerType::Shell => None,
        }
    }

    /// The kernel a session's `slot` (its default kernel, or the empty one `useEmptyKernel` asks for) runs:
    /// a `Shell` pool runs its commands in a bare Python kernel (its shell operations need nothing else).
    pub(crate) fn kernel(&self, slot: Flavor) -> (Language, Flavor) {
        match self.code_language() {
            Some(language) => (language, slot),
            None => (Language::Python, Flavor::Empty),
        }
    }

    /// Why `work` cannot run in this pool, in the service's words, if it cannot.
    pub(crate) fn refuses(&self, work: &Work) -> Option<String> {
        if let Some(why) = &self.unavailable {
            return Some(format!(
                "The {} pool '{}' cannot run code here: {why}",
                self.spec.container_type, self.spec.name
            ));
        }
        match (work, self.code_language()) {
            (Work::Code(_), None) => Some(format!(
                "The session pool '{}' is a {} pool: it runs shell commands ('shellCommand' or 'execCommandAndArgs' \
                 in executions, api-version 2025-02-02-preview or later), not 'code'.",
                self.spec.name, self.spec.container_type
            )),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(container_type: ContainerType) -> PoolKind {
        PoolKind { spec: PoolSpec { name: "p".into(), container_type }, unavailable: None }
    }

    #[test]
    fn each_container_type_runs_its_language_and_a_shell_pool_only_commands() {
        let code = Work::Code("1+1".into());
        let shell = Work::Shell { command: "ls".into(), stdin: None };
        let python = kind(ContainerType::PythonLts);
        assert_eq!(python.kernel(Flavor::Empty), (Language::Python, Flavor::Empty));
        assert!(python.refuses(&code).is_none() && python.refuses(&shell).is_none());
        let node = kind(ContainerType::NodeLts);
        assert_eq!(node.kernel(Flavor::Preloaded), (Language::JavaScript, Flavor::Preloaded));
        let shell_pool = kind(ContainerType::Shell);
        assert_eq!(shell_pool.kernel(Flavor::Preloaded), (Language::Python, Flavor::Empty));
        assert!(shell_pool.refuses(&shell).is_none());
        assert!(
            shell_pool.refuses(&code).is_some_and(|why| why.contains("Shell pool") && why.contains("shellCommand"))
        );
        let missing = PoolKind { unavailable: Some("no node".into()), ..node };
        assert!(missing.refuses(&shell).is_some_and(|why| why.contains("NodeLTS pool 'p'") && why.contains("no node")));
    }
}
