//! The BMC watchdog timer (IPMI v2.0 §27): Reset (App 22h), Set (24h) and
//! Get Watchdog Timer (25h).
//!
//! The timer is a deadline, not a thread: [`Watchdog`] keeps the instant
//! its countdown reaches zero, and [`Watchdog::poll`] (called with the
//! caller's `now` before every command and whenever the service's timer
//! fires at [`Watchdog::next_deadline`]) turns a passed pre-timeout or
//! timeout into [`WatchdogEvent`]s. [`BmcState::poll_timers`] applies them
//! to the shared chassis: a "Watchdog 2" (sensor type 23h) event in the
//! SEL, then the timeout action (hard reset, power down, power cycle) as a
//! power action dated at the moment the countdown ran out.
//!
//! Behaviour worth knowing:
//!
//! * Reset before any Set answers 80h ("attempt to start un-initialized
//!   watchdog"). A countdown of 0 expires at once when (re)started.
//! * Set stops a running timer unless the "don't stop" bit is set; with it,
//!   a running timer restarts from the new countdown and a stopped one stays
//!   stopped. Set clears the pre-timeout state and the expiration flags
//!   named in byte 4.
//! * On timeout the timer stops, the present countdown reads 0 and the
//!   expiration flag of the timer use is set; the flags stay until a Set
//!   clears them (a BMC reset keeps them too).
//! * A pre-timeout interrupt is logged (offset 08h) at `pre-timeout
//!   interval` seconds before the timeout; there is no host to interrupt.
//! * Reset and power cycle actions apply only to a powered chassis (a
//!   watchdog does not power a dark host on); power down of a dark chassis
//!   does nothing.
//! * Reserved timer uses (0, 6, 7), actions (4-7) and interrupts (4-7), and a
//!   pre-timeout interval longer than the countdown with an interrupt
//!   configured, are refused with CCh.

use super::sdr;
use super::{cc, need, u16_le, BmcState, CmdResponse, Command, Ctx, R};
use fakedc_model::{Chassis, EventKind, MachineId, Model, PowerAction, Privilege};
use std::time::{Duration, Instant};

/// One countdown step.
pub const TICK: Duration = Duration::from_millis(100);

/// Sensor-specific offsets of the Watchdog 2 sensor (sensor type 23h).
const OFFSET_INTERRUPT: u8 = 0x08;

/// Completion code of Reset Watchdog Timer before any Set.
pub const CC_UNINITIALIZED: u8 = 0x80;

/// The watchdog timer's state. `Default` is a BMC that has never been
/// told anything: stopped, uninitialized, no flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Watchdog {
    /// A Set Watchdog Timer was received (Reset needs one).
    pub initialized: bool,
    /// Timer use, bits 2:0 of Set byte 1 (1 FRB2, 2 POST, 3 OS load,
    /// 4 SMS/OS, 5 OEM).
    pub timer_use: u8,
    /// "Don't log": the timeout and pre-timeout are not logged in the SEL.
    pub dont_log: bool,
    /// Timeout action: 0 none, 1 hard reset, 2 power down, 3 power cycle.
    pub action: u8,
    /// Pre-timeout interrupt: 0 none, 1 SMI, 2 NMI, 3 messaging interrupt.
    pub interrupt: u8,
    /// Pre-timeout interval in seconds.
    pub pretimeout_s: u8,
    /// Timer use expiration flags (bit n = timer use n expired).
    pub expiration_flags: u8,
    /// Initial countdown in 100 ms units.
    pub initial_countdown: u16,
    /// Present countdown while the timer is stopped.
    stopped_countdown: u16,
    /// When the running countdown reaches zero; `None` while stopped.
    expires: Option<Instant>,
    /// The pre-timeout interrupt of the running countdown has happened.
    pretimeout_done: bool,
}

/// Something the watchdog did when its time came.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WatchdogEvent {
    /// The pre-timeout interrupt point passed.
    Pretimeout {
        at: Instant,
        timer_use: u8,
        interrupt: u8,
        log: bool,
    },
    /// The countdown reached zero.
    Expired {
        at: Instant,
        timer_use: u8,
        action: u8,
        interrupt: u8,
        log: bool,
    },
}

impl WatchdogEvent {
    /// Journal text.
    pub fn describe(&self) -> String {
        match *self {
            WatchdogEvent::Pretimeout {
                timer_use,
                interrupt,
                ..
            } => format!(
                "pre-timeout interrupt ({}) for {}",
                interrupt_name(interrupt),
                use_name(timer_use)
            ),
            WatchdogEvent::Expired {
                timer_use, action, ..
            } => format!("{} expired: {}", use_name(timer_use), action_name(action)),
        }
    }

    /// The Watchdog 2 SEL record body (after record id and type) of this
    /// event; the log stamps the time.
    fn sel_body(&self) -> [u8; 13] {
        let (offset, timer_use, interrupt) = match *self {
            WatchdogEvent::Pretimeout {
                timer_use,
                interrupt,
                ..
            } => (OFFSET_INTERRUPT, timer_use, interrupt),
            WatchdogEvent::Expired {
                timer_use,
                action,
                interrupt,
                ..
            } => (action & 0x07, timer_use, interrupt),
        };
        let mut b = [0u8; 13];
        b[4] = sdr::BMC_ADDR;
        b[5] = 0x00;
        b[6] = 0x04; // EvM rev
        b[7] = sdr::WATCHDOG.sensor_type;
        b[8] = sdr::WATCHDOG.number;
        // Assertion, sensor-specific; data 2 holds the sensor-specific
        // extension: interrupt type and timer use at expiration.
        b[9] = 0x6F;
        b[10] = 0xC0 | offset;
        b[11] = ((interrupt & 0x0F) << 4) | (timer_use & 0x0F);
        b[12] = 0xFF;
        b
    }
}

fn use_name(u: u8) -> &'static str {
    match u {
        1 => "BIOS FRB2",
        2 => "BIOS/POST",
        3 => "OS Load",
        4 => "SMS/OS",
        5 => "OEM",
        _ => "reserved",
    }
}

fn action_name(a: u8) -> &'static str {
    match a {
        0 => "no action",
        1 => "hard reset",
        2 => "power down",
        3 => "power cycle",
        _ => "reserved",
    }
}

fn interrupt_name(i: u8) -> &'static str {
    match i {
        0 => "none",
        1 => "SMI",
        2 => "NMI",
        3 => "messaging interrupt",
        _ => "reserved",
    }
}

fn countdown(units: u16) -> Duration {
    TICK * u32::from(units)
}

impl Watchdog {
    /// Whether the countdown is running.
    pub fn running(&self) -> bool {
        self.expires.is_some()
    }

    /// The present countdown in 100 ms units (rounded up while running,
    /// so a freshly started timer reads its initial countdown).
    pub fn present_countdown(&self, now: Instant) -> u16 {
        match self.expires {
            Some(at) => {
                let left = at.saturating_duration_since(now).as_millis();
                left.div_ceil(TICK.as_millis()).min(u128::from(u16::MAX)) as u16
            }
            None => self.stopped_countdown,
        }
    }

    fn pretimeout_at(&self) -> Option<Instant> {
        let at = self.expires?;
        if self.interrupt == 0 || self.pretimeout_done {
            return None;
        }
        let before = Duration::from_secs(u64::from(self.pretimeout_s));
        Some(at.checked_sub(before).unwrap_or(at))
    }

    /// The next instant at which [`Watchdog::poll`] has something to do.
    pub fn next_deadline(&self) -> Option<Instant> {
        match (self.pretimeout_at(), self.expires) {
            (Some(p), Some(e)) => Some(p.min(e)),
            (p, e) => p.or(e),
        }
    }

    /// Set Watchdog Timer with its 6 request bytes.
    pub fn set(&mut self, d: &[u8], now: Instant) -> Result<(), u8> {
        need(d, 6, 6)?;
        let timer_use = d[0] & 0x07;
        let interrupt = (d[1] >> 4) & 0x07;
        let action = d[1] & 0x07;
        let initial = u16_le(d, 4);
        if !(1..=5).contains(&timer_use) || interrupt > 3 || action > 3 {
            return Err(cc::INVALID_FIELD);
        }
        if interrupt != 0 && u32::from(d[2]) * 10 > u32::from(initial) {
            return Err(cc::INVALID_FIELD);
        }
        let dont_stop = d[0] & 0x40 != 0;
        self.initialized = true;
        self.dont_log = d[0] & 0x80 != 0;
        self.timer_use = timer_use;
        self.interrupt = interrupt;
        self.action = action;
        self.pretimeout_s = d[2];
        self.expiration_flags &= !(d[3] & 0x3E);
        self.initial_countdown = initial;
        self.pretimeout_done = false;
        if dont_stop && self.running() {
            self.expires = Some(now + countdown(initial));
        } else {
            self.expires = None;
            self.stopped_countdown = initial;
        }
        Ok(())
    }

    /// Reset Watchdog Timer: (re)start the countdown from the initial
    /// value. 80h before any Set.
    pub fn reset(&mut self, now: Instant) -> Result<(), u8> {
        if !self.initialized {
            return Err(CC_UNINITIALIZED);
        }
        self.expires = Some(now + countdown(self.initial_countdown));
        self.pretimeout_done = false;
        Ok(())
    }

    /// Get Watchdog Timer's 8 response bytes.
    pub fn get(&self, now: Instant) -> Vec<u8> {
        let mut out = vec![
            (u8::from(self.dont_log) << 7) | (u8::from(self.running()) << 6) | self.timer_use,
            (self.interrupt << 4) | self.action,
            self.pretimeout_s,
            self.expiration_flags,
        ];
        out.extend_from_slice(&self.initial_countdown.to_le_bytes());
        out.extend_from_slice(&self.present_countdown(now).to_le_bytes());
        out
    }

    /// Everything due at `now`, in order: the pre-timeout, then the
    /// timeout (which stops the timer and sets its expiration flag).
    pub fn poll(&mut self, now: Instant) -> Vec<WatchdogEvent> {
        let mut events = Vec::new();
        let Some(expires) = self.expires else {
            return events;
        };
        let log = !self.dont_log;
        if let Some(at) = self.pretimeout_at().filter(|&at| at <= now) {
            self.pretimeout_done = true;
            events.push(WatchdogEvent::Pretimeout {
                at,
                timer_use: self.timer_use,
                interrupt: self.interrupt,
                log,
            });
        }
        if expires <= now {
            self.expires = None;
            self.stopped_countdown = 0;
            self.expiration_flags |= (1u8 << self.timer_use) & 0x3E;
            events.push(WatchdogEvent::Expired {
                at: expires,
                timer_use: self.timer_use,
                action: self.action,
                interrupt: self.interrupt,
                log,
            });
        }
        events
    }

    /// A BMC reset: the timer stops and forgets its settings; the
    /// expiration flags survive.
    pub fn bmc_reset(&mut self) {
        *self = Watchdog {
            expiration_flags: self.expiration_flags,
            ..Watchdog::default()
        };
    }
}

/// Applies one watchdog event to the chassis: the SEL record first, then
/// the timeout action, dated when the countdown ran out.
pub(crate) fn apply(chassis: &mut Chassis, event: &WatchdogEvent) {
    let log = match *event {
        WatchdogEvent::Pretimeout { log, .. } | WatchdogEvent::Expired { log, .. } => log,
    };
    if log {
        chassis.log.push(EventKind::Raw {
            record_type: 0x02,
            body: event.sel_body(),
        });
    }
    if let WatchdogEvent::Expired { at, action, .. } = *event {
        let powered = chassis.power.power_on();
        let power = match action {
            1 => Some(PowerAction::Reset),
            2 => Some(PowerAction::Off),
            3 => Some(PowerAction::Cycle),
            _ => None,
        };
        if let Some(a) = power.filter(|_| powered) {
            chassis.power_action(a, at);
        }
    }
}

impl BmcState {
    /// Runs the timers due at `now` (the watchdog) against the BMC's
    /// chassis. The command layer calls it before every command; the
    /// service also calls it when [`BmcState::next_timer`] comes.
    /// PEF then evaluates the SEL records added since the last poll,
    /// including what the watchdog just logged.
    pub fn poll_timers(&mut self, model: &Model, bmc: MachineId, now: Instant) {
        let events = self.watchdog.poll(now);
        if !events.is_empty() {
            let chassis = model.machine(bmc).chassis;
            model.with_chassis(chassis, now, |c| {
                for e in &events {
                    apply(c, e);
                }
            });
            self.timer_events.extend(
                events
                    .iter()
                    .map(|e| ("watchdog", WatchdogEvent::describe(e))),
            );
        }
        let pef = self.poll_pef(model, bmc, now);
        self.timer_events
            .extend(pef.into_iter().map(|l| ("pef", l)));
    }

    /// When [`BmcState::poll_timers`] next has work, if ever.
    pub fn next_timer(&self) -> Option<Instant> {
        [self.watchdog.next_deadline(), self.pef_deadline()]
            .into_iter()
            .flatten()
            .min()
    }

    /// What the timers (watchdog, PEF) did since the last call, for the
    /// journal: (operation, outcome).
    pub fn take_timer_events(&mut self) -> Vec<(&'static str, String)> {
        std::mem::take(&mut self.timer_events)
    }
}

pub(super) fn lookup(cmd: u8) -> Option<Command> {
    use Privilege::*;
    Some(match cmd {
        0x22 => Command::new("Reset Watchdog Timer", Operator, reset),
        0x24 => Command::new("Set Watchdog Timer", Operator, set),
        0x25 => Command::new("Get Watchdog Timer", User, get),
        _ => return None,
    })
}

fn reset(ctx: &mut Ctx) -> R {
    need(ctx.data(), 0, 0)?;
    ctx.state.watchdog.reset(ctx.now)?;
    Ok(CmdResponse::ok(Vec::new()))
}

fn set(ctx: &mut Ctx) -> R {
    let now = ctx.now;
    let d = ctx.data();
    ctx.state.watchdog.set(d, now)?;
    Ok(CmdResponse::ok(Vec::new()))
}

fn get(ctx: &mut Ctx) -> R {
    need(ctx.data(), 0, 0)?;
    Ok(CmdResponse::ok(ctx.state.watchdog.get(ctx.now)))
}
