export { DeciderSpecification } from "./decider-spec";
export type { DeciderGiven, DeciderWhen, DeciderThen, MessageMatcher } from "./decider-spec";
