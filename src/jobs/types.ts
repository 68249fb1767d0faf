import type { Config, PageConfig } from '../config/index.js';
import type { Logger } from '../log.js';
import type { GraphClient } from '../messenger/graph/client.js';

/** What a job gets for one run. */
export interface JobContext {
  /** The run's start time: the clock a job uses to decide what is due. */
  readonly now: Date;
  readonly log: Logger;
  readonly config: Config;
  readonly graph: GraphClient;
  readonly page: PageConfig;
  /** Aborted when the process shuts down or the job's lease is lost: stop at the next safe point. */
  readonly signal: AbortSignal;
}

/** Small counters describing what a run did (`{cancelled: 3}`); stored on the run, never personal data. */
export type JobSummary = Readonly<Record<string, number | string | boolean | null>>;

export interface JobResult {
  readonly summary?: JobSummary;
}

/**
 * A scheduled task, declared as data. Jobs are driven by state: each run asks the database what is
 * due *now* (never "what happened since the last tick"), so a missed or doubled tick changes nothing.
 */
export interface JobDefinition {
  /** Stable, kebab-case: names the lease (`job:<id>`) and the runs in `job_runs`. */
  readonly id: string;
  /** A node-cron expression (5 fields, or 6 with seconds first), evaluated in UTC. */
  readonly schedule: string;
  readonly description: string;
  run(ctx: JobContext): Promise<JobResult>;
}
