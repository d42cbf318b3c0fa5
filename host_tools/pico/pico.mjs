// The emulated Pico: the real RP2040 MicroPython image in rp2040js, with its flash, its USB
// serial port and an IMU on its I2C pins. Started by host_tools/pico.py (see there); the
// USB CDC port's bytes are this process's stdin (from the host) and stdout (to the host).
//
//   node pico.mjs --firmware IMAGE.bin --bootrom BOOTROM.mjs --flash FLASH.img [options]
//
//   --flash FILE     the 2 MB flash, kept in FILE: every program and erase the firmware makes
//                    (littlefs) is written there at once, so it survives a reset or a killed
//                    process as a Pico's flash survives a power cut; made from the image when
//                    missing (the image is written over offset 0 at each start)
//   --uid HEX        the flash chip's unique id (8 bytes): the board's machine.unique_id()
//   --imu CMD        a command line (JSON list) that serves an emulated IMU over two named
//                    pipes (host_tools/virtual/picoimu.py; REQ and REP are put in for the
//                    strings "{req}" and "{rep}"), on I2C0 (SDA --sda, SCL --scl)
//   --int PIN        the GPIO the IMU's interrupt line drives
//   --vbus PIN --usb 0|1   VBUS sense: a USB host attached (1) or on battery (0)
//   --button PIN     held high (not pressed; the button pulls it low)
//   --stats FILE     JSON written about twice a second: simulated time, cycles, time the
//                    core was awake, the IMU's state, resets, bytes on the I2C bus (rp2040js
//                    moves them at once: a 400 kHz bus takes 22.5 us a byte, in which
//                    MicroPython's blocking I2C keeps the core busy), and the same figures
//                    at the moment the IMU's trace ran out ("at_end")
//   --log FILE       diagnostics (stdout is the serial port's)
//   --realtime       never run ahead of the wall clock (idle time is otherwise skipped)
//
// The flash: rp2040js reads the flash array directly (XIP) but has no flash chip behind its
// SSI, so writes never reached it. Here the SSI is a SPI master whose bytes go to a model
// of a W25Q16 (page program, 4/32/64 KB erase, status, JEDEC and unique id), with chip
// select forced through IO_QSPI as the boot ROM's flash_range_program/erase do: the ROM
// code runs unchanged and littlefs formats, writes and persists as on a Pico.
import { execFileSync, spawn } from 'child_process';
import fs from 'fs';
import os from 'os';
import path from 'path';
import { pathToFileURL } from 'url';
import { BasePeripheral, RP2040, USBCDC } from 'rp2040js';

const FLASH_BYTES = 2 * 1024 * 1024;
const NS_PER_CYCLE = 8;             // rp2040js runs the core at 125 MHz

// ---- arguments -------------------------------------------------------------------------
const opts = {};
for (let i = 2; i < process.argv.length; i++) {
  const a = process.argv[i];
  if (!a.startsWith('--')) throw new Error(`unexpected argument ${a}`);
  const key = a.slice(2);
  const next = process.argv[i + 1];
  if (next === undefined || next.startsWith('--')) opts[key] = true;
  else { opts[key] = next; i++; }
}
for (const k of ['firmware', 'bootrom', 'flash']) {
  if (!opts[k]) throw new Error(`--${k} is required`);
}
const pin = (k) => (opts[k] === undefined ? null : Number(opts[k]));
const logFd = opts.log ? fs.openSync(opts.log, 'a') : 2;
function log(msg) {
  fs.writeSync(logFd, `pico: ${msg}\n`);
}
const quiet = { debug() {}, info() {}, warn() {}, error(c, m) { log(`${c}: ${m}`); } };

// ---- flash: the file, and the chip behind the SSI -----------------------------------------
const image = fs.readFileSync(opts.firmware);
if (image.length > FLASH_BYTES) throw new Error(`${opts.firmware} is larger than the flash`);
if (!fs.existsSync(opts.flash)) {
  fs.writeFileSync(opts.flash, Buffer.alloc(FLASH_BYTES, 0xff));
}
const flashFd = fs.openSync(opts.flash, 'r+');
const flashCopy = Buffer.alloc(FLASH_BYTES, 0xff);
fs.readSync(flashFd, flashCopy, 0, FLASH_BYTES, 0);
image.copy(flashCopy, 0);
fs.writeSync(flashFd, flashCopy, 0, image.length, 0);

const uid = Buffer.from((opts.uid || 'e660583883593a2b').padEnd(16, '0').slice(0, 16), 'hex');

class SpiFlash {
  // one SPI transaction per chip select low; bytes exchanged one at a time
  constructor() {
    this.mem = null;                // mcu.flash, set at each power-on
    this.selected = false;
    this.cmd = -1;
    this.n = 0;
    this.addr = 0;
    this.wel = false;               // write enable latch
    this.lo = -1;                   // range programmed in this transaction
    this.hi = -1;
    this.writes = 0;
  }
  select(on) {
    if (on === this.selected) return;
    if (!on) this.end();
    this.selected = on;
    this.cmd = -1;
    this.n = 0;
  }
  exchange(b) {
    if (!this.selected) return 0xff;
    if (this.cmd < 0) {
      this.cmd = b;
      if (b === 0x06) this.wel = true;
      else if (b === 0x04) this.wel = false;
      return 0xff;
    }
    const n = this.n++;
    switch (this.cmd) {
      case 0x05: return this.wel ? 0x02 : 0x00;     // status 1: never busy
      case 0x35: return 0x02;                       // status 2: quad enable set
      case 0x15: return 0x00;
      case 0x9f: return [0xef, 0x40, 0x15][n] ?? 0; // W25Q16JV
      case 0x4b: return n < 4 ? 0 : uid[(n - 4) & 7];
      case 0x03:
      case 0x0b:
        if (n < 3) { this.addr = ((this.addr << 8) | b) & 0xffffff; return 0; }
        if (this.cmd === 0x0b && n === 3) return 0;
        return this.mem[this.addr++ & (FLASH_BYTES - 1)];
      case 0x02:
        if (n < 3) { this.addr = ((this.addr << 8) | b) & 0xffffff; return 0; }
        if (this.wel) {
          // a page program only clears bits, and wraps within its 256-byte page
          const a = (this.addr & ~0xff) | ((this.addr + n - 3) & 0xff);
          if (a < FLASH_BYTES) {
            this.mem[a] &= b;
            this.lo = this.lo < 0 ? a : Math.min(this.lo, a);
            this.hi = Math.max(this.hi, a + 1);
          }
        }
        return 0;
      case 0x20:
      case 0x52:
      case 0xd8:
        if (n < 3) this.addr = ((this.addr << 8) | b) & 0xffffff;
        return 0;
      default:
        return 0;
    }
  }
  end() {
    const { cmd } = this;
    if (cmd === 0x02 && this.lo >= 0) {
      this.persist(this.lo, this.hi);
      this.wel = false;
    } else if ((cmd === 0x20 || cmd === 0x52 || cmd === 0xd8) && this.wel && this.n >= 3) {
      const size = cmd === 0x20 ? 4096 : cmd === 0x52 ? 32768 : 65536;
      const a = this.addr & ~(size - 1);
      if (a < FLASH_BYTES) {
        this.mem.fill(0xff, a, a + size);
        this.persist(a, a + size);
      }
      this.wel = false;
    } else if (cmd === 0x01) {
      this.wel = false;
    }
    this.lo = this.hi = -1;
  }
  persist(lo, hi) {
    fs.writeSync(flashFd, this.mem, lo, hi - lo, lo);
    this.writes++;
  }
}
const spiFlash = new SpiFlash();

// SSI registers the ROM's flash code uses; a byte written to DR0 is exchanged with the chip
// at once and its answer waits in the RX FIFO. With chip select left to the SSI (boot2
// reading the status registers), it stays low from the first byte written until the
// software looks at the status or the data: the bytes it wrote back to back are one command.
class FlashSSI extends BasePeripheral {
  constructor(mcu) {
    super(mcu, 'SSI');
    this.regs = new Map();
    this.rx = [];
    this.auto = false;              // a command under the SSI's own chip select is open
  }
  settle() {
    if (this.auto) {
      this.auto = false;
      spiFlash.select(false);
    }
  }
  readUint32(offset) {
    switch (offset) {
      case 0x20: return 0;                          // TXFLR
      case 0x24: return this.rx.length;             // RXFLR
      case 0x28:                                    // SR: never busy, TX FIFO empty
        this.settle();
        return 0x06 | (this.rx.length ? 0x08 : 0) | (this.rx.length >= 16 ? 0x10 : 0);
      case 0x58: return 0x51535049;                 // IDR
      case 0x5c: return 0x3430312a;                 // VERSION_ID
      case 0x60:
        this.settle();
        return this.rx.length ? this.rx.shift() : 0;
      default: return this.regs.get(offset) ?? 0;
    }
  }
  writeUint32(offset, value) {
    if (offset === 0x60) {
      if (!spiFlash.selected) {
        spiFlash.select(true);
        this.auto = true;
      }
      const answer = spiFlash.exchange(value & 0xff);
      if (this.rx.length < 16) this.rx.push(answer);
      return;
    }
    if (offset === 0x08 && !(value & 1)) {          // SSIENR off: FIFOs cleared
      this.settle();
      this.rx.length = 0;
    }
    this.regs.set(offset, value >>> 0);
  }
}

// IO_QSPI: a register file; the SS pad's output override is the flash's chip select
class QspiIO extends BasePeripheral {
  constructor(mcu) {
    super(mcu, 'IO_QSPI');
    this.regs = new Map();
  }
  readUint32(offset) {
    return this.regs.get(offset) ?? 0;
  }
  writeUint32(offset, value) {
    this.regs.set(offset, value >>> 0);
    if (offset === 0x0c) {                          // GPIO_QSPI_SS_CTRL
      const over = (value >>> 8) & 3;               // 2: drive low, 3: drive high
      const ssi = this.rp2040.peripherals[0x18000];
      ssi.settle();
      spiFlash.select(over === 2);
    }
  }
}

// ---- the emulated IMU: a chip model in another process, asked over named pipes -------------
class ImuLink {
  constructor(argv) {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'retrostep-picoimu-'));
    this.dir = dir;
    const req = path.join(dir, 'req');
    const rep = path.join(dir, 'rep');
    execFileSync('mkfifo', [req, rep]);
    const cmd = argv.map((a) => a.replace('{req}', req).replace('{rep}', rep));
    this.proc = spawn(cmd[0], cmd.slice(1), { stdio: ['ignore', 'ignore', 'pipe'] });
    this.proc.stderr.on('data', (d) => log(`imu: ${d.toString().trimEnd()}`));
    this.proc.on('exit', (code) => { if (!closing) log(`imu process ended (${code})`); });
    this.req = fs.openSync(req, 'w');               // opens once the chip process has
    this.rep = fs.openSync(rep, 'r');
    this.buf = Buffer.alloc(256);
    this.pending = '';
    this.state = { level: 0, due: -1, exhausted: 0, flen: 0, made: 0 };
    this.asks = 0;
  }
  ask(line) {
    this.asks++;
    fs.writeSync(this.req, `${Math.floor(clock.nanos / 1000)} ${line}\n`);
    for (;;) {
      const nl = this.pending.indexOf('\n');
      if (nl >= 0) {
        const out = this.pending.slice(0, nl);
        this.pending = this.pending.slice(nl + 1);
        return out;
      }
      const got = fs.readSync(this.rep, this.buf, 0, this.buf.length, null);
      if (!got) throw new Error('the IMU process closed its pipe');
      this.pending += this.buf.toString('latin1', 0, got);
    }
  }
  close() {
    try { fs.closeSync(this.req); } catch (e) { /* gone */ }
    this.proc.kill();
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

// ---- the board ---------------------------------------------------------------------------
let clock = null;                   // the simulated clock, kept across resets
const { bootromB1 } = await import(pathToFileURL(path.resolve(opts.bootrom)).href);
const imu = opts.imu ? new ImuLink(JSON.parse(opts.imu)) : null;
const SDA = pin('sda') ?? 4;
const SCL = pin('scl') ?? 5;
const INT = pin('int');
const VBUS = pin('vbus');
const BUTTON = pin('button');
let closing = false;
let mcu = null;
let cdc = null;
let intAlarm = null;
let intLevel = false;
let resetPending = false;
const stats = { resets: 0, cycles: 0, awake_ns: 0, idle_ns: 0, led_changes: 0, i2c_bytes: 0, at_end: null };
const fromHost = [];                // bytes from the host not yet taken by the USB OUT endpoint
let heldRead = null;

function powerOn() {
  // a fresh chip on the same clock (its alarms from before the reset are dropped); the
  // flash keeps what was written
  if (clock) clock.nextAlarm = null;
  mcu = clock ? new RP2040(clock) : new RP2040();
  clock = mcu.clock;
  mcu.logger = quiet;
  mcu.loadBootrom(bootromB1);       // (this also fills rp2040js's flash with 0xff)
  mcu.flash.set(flashCopy.subarray(0, FLASH_BYTES), 0);
  spiFlash.mem = mcu.flash;
  spiFlash.selected = false;
  mcu.peripherals[0x18000] = new FlashSSI(mcu);
  mcu.peripherals[0x40018] = new QspiIO(mcu);
  const watchdog = mcu.peripherals[0x40058];
  watchdog.onWatchdogTrigger = () => {
    // (rp2040js would fire it again at once, forever: its counter stays at 0)
    watchdog.alarm.enable = false;
    resetPending = true;
  };
  attachUsb();
  if (imu) attachImu();
  if (VBUS !== null) mcu.gpio[VBUS].setInputValue(opts.usb === '1' || opts.usb === true);
  if (BUTTON !== null) mcu.gpio[BUTTON].setInputValue(true);
  const led = mcu.gpio[25];
  led.addListener(() => { stats.led_changes++; });
  intLevel = false;
  mcu.core.PC = 0x10000000;         // boot2 at the start of flash, as the ROM would run it
}

function attachUsb() {
  cdc = new USBCDC(mcu.usbCtrl);
  cdc.onSerialData = (data) => { process.stdout.write(Buffer.from(data)); };
  // hold an OUT transfer while the host has nothing to send, as a real host NAKs it (rp2040js
  // would answer at once with an empty packet, and the firmware take a USB interrupt every
  // few microseconds)
  const answer = mcu.usbCtrl.onEndpointRead;
  heldRead = null;
  mcu.usbCtrl.onEndpointRead = (ep, size) => {
    if (ep === cdc.outEndpoint && !fromHost.length && cdc.txFIFO.empty) {
      heldRead = { ep, size, answer };
      return;
    }
    answer(ep, size);
  };
}

function feedHost() {
  while (fromHost.length && !cdc.txFIFO.full) cdc.sendSerialByte(fromHost.shift());
  if (heldRead && !cdc.txFIFO.empty) {
    const { ep, size, answer } = heldRead;
    heldRead = null;
    answer(ep, size);
  }
}

function attachImu() {
  for (const bus of mcu.i2c) {
    let writing = [];
    const flush = () => {
      if (writing.length) imu.ask(`w ${Buffer.from(writing).toString('hex')}`);
      writing = [];
    };
    bus.onStart = () => bus.completeStart();
    bus.onConnect = (a) => {
      stats.i2c_bytes++;
      flush();
      const ack = bus === mcu.i2c[0] && imu.ask(`s ${a}`) === '1';
      bus.completeConnect(ack);       // (the bytes that follow may come from inside this)
    };
    bus.onWriteByte = (v) => { stats.i2c_bytes++; writing.push(v); bus.completeWrite(true); };
    bus.onReadByte = () => {
      stats.i2c_bytes++;
      flush();
      bus.completeRead(Number(imu.ask('r')) & 0xff);
    };
    bus.onStop = () => { flush(); bus.completeStop(); checkInt(); };
  }
  attachScanAcker();
  if (INT !== null) {
    mcu.gpio[INT].setInputValue(false);
    intAlarm = clock.createAlarm(() => checkInt());
  }
  checkInt();
}

function checkInt() {
  const [level, due, exhausted, flen, made] = imu.ask('i').split(' ').map(Number);
  imu.state = { level, due, exhausted, flen, made };
  if (exhausted && !stats.at_end) {
    // the figures when the trace ran out (idle time after it is skipped in a flash)
    stats.at_end = { sim_ms: clock.nanos / 1e6, cycles: stats.cycles, awake_ns: stats.awake_ns,
      idle_ns: stats.idle_ns, i2c_bytes: stats.i2c_bytes, made };
  }
  if (INT === null) return;
  const high = level === 1;
  if (high !== intLevel) {
    intLevel = high;
    mcu.gpio[INT].setInputValue(high);     // only on a change: each call is an edge
  }
  if (due >= 0) intAlarm.schedule(Math.max(0, due * 1000 - clock.nanos) + 1000);
  else if (intAlarm.scheduled) intAlarm.cancel();
}

// MicroPython's I2C.scan() on the rp2 clocks zero-length writes out of the pins by hand
// (the I2C block cannot send them): the chip answers its address there too. Open drain:
// a line reads low when the MCU or the chip pulls it low, else the pull-up holds it high.
function attachScanAcker() {
  const scl = mcu.gpio[SCL];
  const sda = mcu.gpio[SDA];
  const low = (p) => p.outputEnable && !p.outputValue && p.functionSelect === 5;
  let sclWas = true;
  let sdaWas = true;
  let bits = -1;                    // bits of the address byte seen; -1: no transfer
  let byte = 0;
  let ack = false;
  const update = () => {
    const sclNow = !low(scl);
    const sdaMcu = !low(sda);
    if (sclNow && sclWas && sdaWas && !sdaMcu) { bits = 0; byte = 0; ack = false; }  // START
    else if (sclNow && sclWas && !sdaWas && sdaMcu) { bits = -1; ack = false; }     // STOP
    else if (bits >= 0 && sclNow && !sclWas) {
      if (bits < 8) byte = (byte << 1) | (sdaMcu ? 1 : 0);
      bits++;
    } else if (bits >= 0 && !sclNow && sclWas) {
      if (bits === 8) {
        ack = imu.ask(`s ${byte >> 1}`) === '1';
        if (!ack) bits = -1;
      } else if (bits === 9) { ack = false; bits = -1; }
    }
    sclWas = sclNow;
    sdaWas = sdaMcu;
    scl.setInputValue(sclNow);
    sda.setInputValue(sdaMcu && !ack);
  };
  scl.addListener(update);
  sda.addListener(update);
  scl.setInputValue(true);
  sda.setInputValue(true);
}

// ---- the run: instructions, and idle time skipped to the next event --------------------------
const wall0 = Date.now();
let lastStats = 0;
function writeStats(final = false) {
  const s = {
    sim_ms: clock.nanos / 1e6, wall_ms: Date.now() - wall0, cycles: stats.cycles,
    awake_ns: stats.awake_ns, idle_ns: stats.idle_ns, resets: stats.resets,
    led_changes: stats.led_changes, flash_writes: spiFlash.writes, i2c_bytes: stats.i2c_bytes,
    imu: imu ? imu.state : null, i2c_asks: imu ? imu.asks : 0, at_end: stats.at_end, final,
  };
  if (opts.stats) {
    const tmp = `${opts.stats}.${process.pid}`;
    fs.writeFileSync(tmp, JSON.stringify(s));
    fs.renameSync(tmp, opts.stats);
  }
}

function run() {
  if (resetPending) {
    resetPending = false;
    stats.resets++;
    log(`reset (${stats.resets}) at ${(clock.nanos / 1e9).toFixed(3)} s`);
    flashCopy.set(mcu.flash.subarray(0, FLASH_BYTES));
    powerOn();
  }
  feedHost();
  const { core } = mcu;
  const limitNs = opts.realtime ? (Date.now() - wall0) * 1e6 : Infinity;
  const until = Date.now() + 20;
  for (let i = 0; !resetPending; i++) {
    if ((i & 0xfff) === 0 && Date.now() > until) break;
    if (core.waiting) {
      const dt = clock.nanosToNextAlarm;
      if (dt <= 0) { setTimeout(run, 1); return maybeStats(); }   // nothing due: the host's turn
      if (clock.nanos + dt > limitNs) { setTimeout(run, 1); return maybeStats(); }
      clock.tick(dt);
      stats.idle_ns += dt;
    } else {
      const c = core.executeInstruction();
      clock.tick(c * NS_PER_CYCLE);
      stats.cycles += c;
      stats.awake_ns += c * NS_PER_CYCLE;
    }
  }
  setImmediate(run);
  maybeStats();
}

function maybeStats() {
  const now = Date.now();
  if (now - lastStats > 500) {
    lastStats = now;
    writeStats();
  }
}

process.stdin.on('data', (data) => {
  for (const b of data) fromHost.push(b);
  if (cdc) feedHost();
});
process.stdin.on('end', () => { /* the host closed its side: the board runs on */ });
function stop(code) {
  closing = true;
  writeStats(true);
  if (imu) imu.close();
  process.exit(code);
}
process.on('SIGTERM', () => stop(0));
process.on('SIGINT', () => stop(0));

powerOn();
log(`booting ${path.basename(opts.firmware)} (${image.length} bytes), flash ${opts.flash}`);
run();
