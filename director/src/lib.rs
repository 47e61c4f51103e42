//! rdsync-director: runs sync jobs and commands on cron schedules.
