//! The build plan: global `ARG`s before the first `FROM`, then one stage per
//! `FROM`. The classic builder runs the stages in order up to the target.

use crate::error::BuildError;
use crate::parser::Step;

#[derive(Clone, Debug)]
pub struct Stage {
    pub index: usize,
    /// `AS name`, lower-cased as Docker compares it.
    pub name: Option<String>,
    pub from: Step,
    pub steps: Vec<Step>,
}

#[derive(Clone, Debug)]
pub struct Plan {
    pub global_args: Vec<Step>,
    pub stages: Vec<Stage>,
}

impl Plan {
    pub fn new(steps: Vec<Step>) -> Result<Plan, BuildError> {
        let mut global_args = Vec::new();
        let mut stages: Vec<Stage> = Vec::new();
        for step in steps {
            if step.keyword == "FROM" {
                let w: Vec<&str> = step.rest.split_whitespace().collect();
                let name = match w.as_slice() {
                    [_, as_, n] if as_.eq_ignore_ascii_case("as") => Some(n.to_lowercase()),
                    _ => None,
                };
                stages.push(Stage {
                    index: stages.len(),
                    name,
                    from: step,
                    steps: Vec::new(),
                });
            } else if let Some(s) = stages.last_mut() {
                s.steps.push(step);
            } else if step.keyword == "ARG" {
                global_args.push(step);
            } else {
                return Err(BuildError::invalid("no build stage in current context"));
            }
        }
        if stages.is_empty() {
            return Err(BuildError::invalid("Dockerfile cannot be empty"));
        }
        Ok(Plan {
            global_args,
            stages,
        })
    }

    /// The stages to run for `target` (all of them without one).
    pub fn stages_for(&self, target: Option<&str>) -> Result<&[Stage], BuildError> {
        match target.filter(|t| !t.is_empty()) {
            None => Ok(&self.stages),
            Some(t) => {
                let t = t.to_lowercase();
                let i = self
                    .stages
                    .iter()
                    .position(|s| s.name.as_deref() == Some(t.as_str()))
                    .ok_or_else(|| {
                        BuildError::invalid(format!(
                            "failed to reach build target {t} in Dockerfile"
                        ))
                    })?;
                Ok(&self.stages[..=i])
            }
        }
    }

    /// Index of the stage called `name` (or numbered so) among `stages`.
    pub fn stage_index(stages: &[Stage], name: &str) -> Option<usize> {
        let lower = name.to_lowercase();
        stages
            .iter()
            .position(|s| s.name.as_deref() == Some(lower.as_str()))
            .or_else(|| name.parse::<usize>().ok().filter(|&i| i < stages.len()))
    }

    /// The earlier stages each stage depends on: the one it starts `FROM`
    /// and those it copies `--from`. `from_image` gives a stage's base image
    /// name after substitution.
    pub fn deps(stages: &[Stage], from_image: impl Fn(&Stage) -> String) -> Vec<Vec<usize>> {
        stages
            .iter()
            .enumerate()
            .map(|(i, stage)| {
                let earlier = &stages[..i];
                let base = from_image(stage);
                let copies = stage
                    .steps
                    .iter()
                    .filter(|s| s.keyword == "COPY")
                    .filter_map(|s| s.flag("from"));
                let mut d: Vec<usize> = std::iter::once(base.as_str())
                    .chain(copies)
                    .filter_map(|name| Self::stage_index(earlier, name))
                    .collect();
                d.sort_unstable();
                d.dedup();
                d
            })
            .collect()
    }

    /// Which stages the last one needs, itself included (given [`Plan::deps`]).
    pub fn needed(deps: &[Vec<usize>]) -> Vec<bool> {
        let mut need = vec![false; deps.len()];
        let Some(last) = deps.len().checked_sub(1) else {
            return need;
        };
        need[last] = true;
        for i in (0..deps.len()).rev() {
            if need[i] {
                for &j in &deps[i] {
                    need[j] = true;
                }
            }
        }
        need
    }

    /// The "Step N/M" total for running the `stages` marked in `needed`.
    pub fn step_count(&self, stages: &[Stage], needed: &[bool]) -> usize {
        self.global_args.len()
            + stages
                .iter()
                .zip(needed)
                .filter(|(_, n)| **n)
                .map(|(s, _)| 1 + s.steps.len())
                .sum::<usize>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parser::parse;

    const MULTI: &str = "ARG BASE=busybox\nFROM $BASE AS builder\nRUN a\nFROM busybox AS unused\nRUN b\nFROM busybox\nCOPY --from=builder /a /b\n";

    #[test]
    fn stages_and_targets() {
        let p = Plan::new(parse(MULTI).unwrap()).unwrap();
        assert_eq!(p.global_args.len(), 1);
        assert_eq!(p.stages.len(), 3);
        assert_eq!(p.step_count(&p.stages, &[true; 3]), 7);
        let from = |s: &Stage| s.from.rest.split_whitespace().next().unwrap().to_string();
        let deps = Plan::deps(&p.stages, from);
        assert_eq!(deps, vec![vec![], vec![], vec![0]]);
        let need = Plan::needed(&deps);
        assert_eq!(need, vec![true, false, true]);
        assert_eq!(p.step_count(&p.stages, &need), 5);
        let t = p.stages_for(Some("Builder")).unwrap();
        assert_eq!(t.len(), 1);
        assert_eq!(Plan::stage_index(&p.stages, "unused"), Some(1));
        assert_eq!(Plan::stage_index(&p.stages, "0"), Some(0));
        assert_eq!(
            p.stages_for(Some("nope")).unwrap_err().to_string(),
            "failed to reach build target nope in Dockerfile"
        );
    }

    #[test]
    fn instruction_before_from_is_refused() {
        assert!(Plan::new(parse("RUN x\nFROM a\n").unwrap()).is_err());
    }
}
