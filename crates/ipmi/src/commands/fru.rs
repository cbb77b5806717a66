//! FRU inventory (Storage netfn 10h-12h): FRU device 0, an image in the
//! Platform Management FRU Information Storage Definition v1.0 format built
//! from the chassis hardware identity: common header, chassis info area,
//! board info area (with a manufacturing date) and product info area, all
//! fields 8-bit ASCII type/length coded, each area ending in C1h, padded to
//! 8 bytes and zero-sum checksummed.

use super::{cc, need, u16_le, CmdResponse, Command, Ctx, R};
use fakedc_model::{Hardware, Privilege};

/// Most bytes one Read FRU Data returns; longer requests get this many
/// (the count byte says so), as BMCs with small buffers do.
pub const FRU_MAX_READ: usize = 32;

/// Board manufacturing date: minutes since 1996-01-01 00:00 UTC, fixed at
/// 2023-01-02 00:00 UTC so images are deterministic.
const MFG_MINUTES: u32 = ((1_672_617_600u64 - 820_454_400) / 60) as u32;

/// Chassis type "Rack Mount Chassis" (SMBIOS type 17h).
const CHASSIS_TYPE_RACK: u8 = 0x17;

pub(super) fn lookup(cmd: u8) -> Option<Command> {
    use Privilege::*;
    Some(match cmd {
        0x10 => Command::new("Get FRU Inventory Area Info", User, get_area_info),
        0x11 => Command::new("Read FRU Data", User, read_data),
        0x12 => Command::new("Write FRU Data", Operator, write_data),
        _ => return None,
    })
}

/// Appends one type/length-coded 8-bit ASCII field (at most 63 bytes).
fn push_field(area: &mut Vec<u8>, text: &str) {
    let bytes: Vec<u8> = text
        .bytes()
        .map(|c| if (0x20..0x7F).contains(&c) { c } else { b'?' })
        .take(63)
        .collect();
    area.push(0xC0 | bytes.len() as u8);
    area.extend_from_slice(&bytes);
}

/// Ends an area: C1h, zero padding to a multiple of 8 (counting the
/// checksum), the length byte (in 8-byte units) and the checksum.
fn finish_area(mut area: Vec<u8>) -> Vec<u8> {
    area.push(0xC1);
    while !(area.len() + 1).is_multiple_of(8) {
        area.push(0x00);
    }
    area[1] = ((area.len() + 1) / 8) as u8;
    area.push(checksum(&area));
    area
}

/// The byte that makes `bytes` plus it sum to zero.
pub(crate) fn checksum(bytes: &[u8]) -> u8 {
    bytes
        .iter()
        .fold(0u8, |acc, &b| acc.wrapping_add(b))
        .wrapping_neg()
}

/// The FRU 0 image for a chassis.
pub(crate) fn image(hw: &Hardware) -> Vec<u8> {
    let mut chassis = vec![0x01, 0x00, CHASSIS_TYPE_RACK];
    push_field(&mut chassis, &hw.part_number);
    push_field(&mut chassis, &hw.serial);
    let chassis = finish_area(chassis);

    let mut board = vec![0x01, 0x00, 0x00]; // version, length, English
    board.extend_from_slice(&MFG_MINUTES.to_le_bytes()[..3]);
    push_field(&mut board, &hw.vendor);
    push_field(&mut board, &hw.model);
    push_field(&mut board, &hw.serial);
    push_field(&mut board, &hw.part_number);
    push_field(&mut board, ""); // FRU file id
    let board = finish_area(board);

    let mut product = vec![0x01, 0x00, 0x00];
    push_field(&mut product, &hw.vendor);
    push_field(&mut product, &hw.model);
    push_field(&mut product, &hw.part_number);
    push_field(&mut product, &hw.bios_version); // product version
    push_field(&mut product, &hw.serial);
    push_field(&mut product, &hw.asset_tag);
    push_field(&mut product, ""); // FRU file id
    let product = finish_area(product);

    let chassis_off = 1u8; // in 8-byte units, right after the header
    let board_off = chassis_off + (chassis.len() / 8) as u8;
    let product_off = board_off + (board.len() / 8) as u8;
    let mut header = vec![0x01, 0x00, chassis_off, board_off, product_off, 0x00, 0x00];
    header.push(checksum(&header));

    let mut img = header;
    img.extend_from_slice(&chassis);
    img.extend_from_slice(&board);
    img.extend_from_slice(&product);
    img
}

fn fru_image(ctx: &Ctx) -> Vec<u8> {
    ctx.with_chassis(|c| image(&c.hardware))
}

/// Get FRU Inventory Area Info: size (LE) and access by bytes. Only FRU
/// device 0 exists (others get CBh).
fn get_area_info(ctx: &mut Ctx) -> R {
    let d = ctx.data();
    need(d, 1, 1)?;
    if d[0] != 0 {
        return Err(cc::NOT_PRESENT);
    }
    let size = fru_image(ctx).len() as u16;
    let mut out = size.to_le_bytes().to_vec();
    out.push(0x00);
    Ok(CmdResponse::ok(out))
}

/// Read FRU Data: device id, offset (LE), count. Answers count returned
/// and the bytes; at most [`FRU_MAX_READ`] and never past the end. An
/// offset at or past the end gets C9h.
fn read_data(ctx: &mut Ctx) -> R {
    let d = ctx.data();
    need(d, 4, 4)?;
    if d[0] != 0 {
        return Err(cc::NOT_PRESENT);
    }
    let offset = usize::from(u16_le(d, 1));
    let count = usize::from(d[3]).min(FRU_MAX_READ);
    let img = fru_image(ctx);
    if offset >= img.len() {
        return Err(cc::PARAM_OUT_OF_RANGE);
    }
    let end = (offset + count).min(img.len());
    let mut out = vec![(end - offset) as u8];
    out.extend_from_slice(&img[offset..end]);
    Ok(CmdResponse::ok(out))
}

/// Write FRU Data: the image is derived from the model and read-only, so
/// writes answer D5h (not supported in present state) after the usual
/// checks.
fn write_data(ctx: &mut Ctx) -> R {
    let d = ctx.data();
    need(d, 3, 255)?;
    if d[0] != 0 {
        return Err(cc::NOT_PRESENT);
    }
    Err(cc::NOT_SUPPORTED_IN_STATE)
}
