-- Reference core system (机关保 business system stand-in).
--
-- Table and column names follow the national indicator system where DOMAIN.md §2 names a code
-- (AB01, AC01, AC02, AC20, AC43, AA10, AE10; AAC001, AAB001, AAE140, ...). Where no code is known,
-- the column has a plain English name rather than an invented code. Parameter tables are local
-- extensions (prefix "ya_", after the vendor convention of Y-prefixed extensions).
--
-- Every business table carries the change-capture trigger at the end of this file.

create schema if not exists core;
set search_path = core;

-- 代码表 -----------------------------------------------------------------------------------------
create table aa10 (
    aaa100 varchar(20) not null,          -- code type, e.g. AAC031
    aaa102 varchar(20) not null,          -- code value
    aaa103 varchar(100) not null,         -- display name
    primary key (aaa100, aaa102)
);

-- 统筹区 and its dated parameters -------------------------------------------------------------
create table ya_region (
    aaa027 varchar(6) primary key,        -- 统筹区编码 (an administrative division code)
    name varchar(50) not null,
    province_code varchar(6) not null
);

-- Three wage series per region and year (DOMAIN.md preface): ONPOST 在岗职工平均工资,
-- ALL 全口径城镇单位就业人员平均工资, BENEFIT 养老金计发基数. Amounts are monthly (元/月).
create table ya_wage (
    aaa027 varchar(6) not null references ya_region,
    aae001 integer not null,              -- 年度 the wage describes
    kind varchar(10) not null check (kind in ('ONPOST', 'ALL', 'BENEFIT')),
    monthly numeric(12, 2) not null check (monthly > 0),
    published_on date,
    source text not null,
    primary key (aaa027, aae001, kind)
);

-- Contribution rates per 险种, payer and range of periods (YYYYMM, inclusive; to_period null = open).
create table ya_rate (
    id bigserial primary key,
    aaa027 varchar(6) not null references ya_region,
    aae140 varchar(3) not null,
    payer varchar(6) not null check (payer in ('UNIT', 'PERSON')),
    from_period integer not null,
    to_period integer,
    rate numeric(7, 4) not null check (rate >= 0 and rate < 1),
    account_rate numeric(7, 4) not null default 0,   -- share of the base credited to the individual account
    source text not null,
    unique (aaa027, aae140, payer, from_period)
);

-- Base bounds: ratio of the reference average wage of the year before (DOMAIN.md §1.3).
create table ya_base_bound (
    aaa027 varchar(6) not null references ya_region,
    from_period integer not null,
    to_period integer,
    lower_ratio numeric(5, 3) not null,
    upper_ratio numeric(5, 3) not null,
    wage_kind varchar(10) not null check (wage_kind in ('ONPOST', 'ALL')),
    source text not null,
    primary key (aaa027, from_period)
);

-- 记账利率 per year (national; DOMAIN.md §1.4).
create table ya_interest (
    aae001 integer primary key,
    rate numeric(7, 4) not null,
    source text not null,
    published_on date
);

-- 计发月数 by whole age (DOMAIN.md §1.5); fractional ages are interpolated by the rule.
create table ya_payout_months (
    age integer primary key,
    months numeric(5, 1) not null
);

-- 滞纳金 daily rate (DOMAIN.md §1.9).
create table ya_late_fee (
    aaa027 varchar(6) not null references ya_region,
    valid_from date not null,
    daily_rate numeric(8, 6) not null,
    source text not null,
    primary key (aaa027, valid_from)
);

-- Monthly annuity-benefit tax table (按月换算后的综合所得税率表, DOMAIN.md preface).
create table ya_tax_bracket (
    valid_from date not null,
    lower_bound numeric(12, 2) not null,  -- exclusive lower bound of the monthly amount
    upper_bound numeric(12, 2),           -- inclusive upper bound; null = no bound
    rate numeric(5, 4) not null,
    quick_deduction numeric(12, 2) not null,
    source text not null,
    primary key (valid_from, lower_bound)
);

-- 增发比例 of the 10-year transition (DOMAIN.md §1.7), by retirement date.
create table ya_transition_share (
    from_date date primary key,
    to_date date not null,
    share numeric(4, 3) not null,
    source text not null
);

-- Other scalar parameters per region: TRANSITION_COEF 过渡系数, INTEREST_METHOD, CYCLE_START_MONTH,
-- MIN_YEARS, ANNUITY_AAE140 (the configurable code of 职业年金), PAYMENT_DUE_DAY.
create table ya_param (
    aaa027 varchar(6) not null references ya_region,
    code varchar(30) not null,
    valid_from date not null,
    value text not null,
    source text not null,
    primary key (aaa027, code, valid_from)
);

-- 经办机构 ---------------------------------------------------------------------------------------
create table ae10 (
    aaz001 bigint primary key,            -- organisation id
    aae044 varchar(100) not null,         -- 名称
    aaa027 varchar(6) not null references ya_region,
    address varchar(200) not null,
    phone varchar(30) not null,
    longitude numeric(9, 6) not null,
    latitude numeric(9, 6) not null,
    opening_hours jsonb not null          -- {"mon": ["09:00-12:00", "13:30-17:00"], ...}
);

-- Units ----------------------------------------------------------------------------------------
create table ab01 (
    aab001 bigint primary key,            -- 单位编号
    uscc varchar(18) not null unique,     -- 统一社会信用代码
    aab004 varchar(100) not null,         -- 单位名称
    aab019 varchar(3) not null,           -- 单位类型 (3x 机关, 5x 事业)
    funding varchar(1) not null check (funding in ('1', '2', '3')),  -- 财政供款: 1 全额 2 差额 3 自收自支
    collection varchar(2) not null,       -- 征收方式 (e.g. 1 银行托收, 2 税务征收)
    aab034 bigint not null references ae10,   -- 社保经办机构
    aaa027 varchar(6) not null references ya_region,
    aab051 varchar(1) not null default '1',   -- 单位参保状态
    contact_name varchar(50) not null,
    contact_phone varchar(20) not null,
    address varchar(200) not null,
    bank_name varchar(100),
    bank_account varchar(40),
    created_at timestamptz not null default now()
);

-- Persons --------------------------------------------------------------------------------------
create table ac01 (
    aac001 bigint primary key,            -- 个人编号
    aac058 varchar(2) not null default '01',  -- 证件类型
    aac002 varchar(18) not null unique,   -- 社会保障号码 (= 公民身份号码)
    aac003 varchar(50) not null,          -- 姓名
    aac004 varchar(1) not null,           -- 性别 1 男 2 女
    aac005 varchar(2) not null default '01',  -- 民族
    aac006 date not null,                 -- 出生日期
    aac007 date not null,                 -- 参加工作时间
    aac067 varchar(20),                   -- 手机号码
    aaa027 varchar(6) not null references ya_region,
    aac084 varchar(1) not null default '0',   -- 离退休标志
    aic162 date,                          -- 离退休日期
    position_level varchar(10),           -- 职务/职级 used by the 视同缴费指数 table
    address varchar(100),                 -- 通讯地址 (no indicator code in DOMAIN.md: plain name)
    postal_code varchar(6)                -- 邮政编码
);

-- Person insurance per 险种.
create table ac02 (
    aac001 bigint not null references ac01,
    aae140 varchar(3) not null,
    aab001 bigint not null references ab01,
    aac008 varchar(1) not null,           -- 参保状态 1 正常 2 暂停 4 终止
    aac030 date not null,                 -- 本次参保日期
    aac031 varchar(1) not null,           -- 缴费状态 1 参保缴费 2 暂停 3 终止
    aac049 integer not null,              -- 首次参保年月
    deemed_months integer not null default 0,  -- 视同缴费月数 (AAE200 in some systems)
    primary key (aac001, aae140)
);

-- Person–unit relation.
create table ac20 (
    aaz157 bigint primary key,
    aac001 bigint not null references ac01,
    aab001 bigint not null references ab01,
    start_date date not null,
    end_date date
);
create index ac20_person on ac20 (aac001);
create index ac20_unit on ac20 (aab001);

-- Monthly contribution detail per 险种.
create table ac43 (
    detail_id bigint primary key,
    aac001 bigint not null,
    aab001 bigint not null,
    aae140 varchar(3) not null,
    aae003 integer not null,              -- 费款所属期 YYYYMM
    aaa115 varchar(2) not null,           -- 缴费类型 10 正常 31 补收 21 退收 41 调基补差
    aac040 numeric(14, 2) not null,       -- 缴费工资 (the declared wage, before the base bounds)
    aae180 numeric(14, 2) not null,       -- 缴费基数
    aae020 numeric(14, 2) not null,       -- 单位缴费
    aae022 numeric(14, 2) not null,       -- 个人缴费
    to_account numeric(14, 2) not null,   -- 划入个人账户
    real_account boolean not null,        -- the unit share is 实账 (true) / 虚账 (false); the personal share is always funded
    aae078 varchar(1) not null,           -- 到账标志 1 到账 0 未到账
    paid_on date                          -- 到账日期
);
-- Detail ids of rows the core's services write (the generator sets it past its bulk-loaded ids).
create sequence ac43_detail_seq;
create index ac43_person on ac43 (aac001, aae003);
create index ac43_unit on ac43 (aab001, aae003);

-- Individual accounts per year (basic and annuity).
create table ic20 (
    aac001 bigint not null,
    aae001 integer not null,
    account varchar(1) not null check (account in ('1', '2')),   -- 1 基本养老 2 职业年金
    opening numeric(14, 2) not null,
    credited numeric(14, 2) not null,
    aae269 numeric(14, 2) not null,       -- 当年记账利息
    aae240 numeric(14, 2) not null,       -- 年末账户余额
    rate numeric(7, 4) not null,
    primary key (aac001, aae001, account)
);

-- Retirees' approved benefit, its items and monthly payments.
create table ic60 (
    aac001 bigint primary key,
    aic162 date not null,                 -- 离退休日期
    method varchar(10) not null,          -- NEW 新办法 / COMPARE 新老对比
    monthly_total numeric(12, 2) not null,     -- 核定养老金 (including the annuity after tax)
    monthly_paid numeric(12, 2) not null,      -- 实发 by the agency (annuity paid separately)
    annuity_monthly numeric(12, 2) not null,   -- 职业年金月待遇 after tax
    approved_on date not null
);
create table ic61 (
    aac001 bigint not null references ic60,
    item varchar(30) not null,
    amount numeric(14, 2) not null,
    primary key (aac001, item)
);
create table ic62 (
    aac001 bigint not null references ic60,
    aae003 integer not null,
    amount numeric(12, 2) not null,
    paid_on date not null,
    primary key (aac001, aae003)
);

-- Social security cards.
create table ac50 (
    aac001 bigint primary key references ac01,
    aaz500 varchar(9) not null unique,    -- 卡号
    identify_code varchar(32) not null,   -- 卡识别码
    status varchar(1) not null,           -- 1 正常 2 挂失 3 注销
    bank varchar(50) not null,
    issued_on date not null
);

-- Change capture ---------------------------------------------------------------------------------
-- Every change to a business table is written here by a trigger, in the changing transaction.
-- txid is the writing transaction; a reader passes a transaction only once it is no longer
-- running (see sync/feed.py), because id order is not commit order.
create table chg_log (
    id bigserial primary key,
    txid xid8 not null default pg_current_xact_id(),
    tbl text not null,
    op char(1) not null check (op in ('I', 'U', 'D')),
    old_row jsonb,
    new_row jsonb,
    changed_at timestamptz not null default clock_timestamp()
);
create index chg_log_txid on chg_log (txid);

create or replace function chg_capture() returns trigger language plpgsql as $$
begin
    if tg_op = 'INSERT' then
        insert into core.chg_log (tbl, op, new_row) values (tg_table_name, 'I', to_jsonb(new));
    elsif tg_op = 'UPDATE' then
        insert into core.chg_log (tbl, op, old_row, new_row)
        values (tg_table_name, 'U', to_jsonb(old), to_jsonb(new));
    else
        insert into core.chg_log (tbl, op, old_row) values (tg_table_name, 'D', to_jsonb(old));
    end if;
    return null;
end $$;

-- Wakes a waiting reader when the writing transaction commits (NOTIFY is delivered on commit and
-- folded to one per transaction).
create or replace function chg_notify() returns trigger language plpgsql as $$
begin
    perform pg_notify('core_changes', '');
    return null;
end $$;

do $$
declare t text;
begin
    foreach t in array array['aa10', 'ya_region', 'ya_wage', 'ya_rate', 'ya_base_bound', 'ya_interest',
        'ya_payout_months', 'ya_late_fee', 'ya_tax_bracket', 'ya_transition_share', 'ya_param',
        'ae10', 'ab01', 'ac01', 'ac02', 'ac20', 'ac43', 'ic20', 'ic60', 'ic61', 'ic62', 'ac50']
    loop
        execute format('create trigger %I after insert or update or delete on core.%I '
                       'for each row execute function core.chg_capture()', t || '_chg', t);
        execute format('create trigger %I after insert or update or delete on core.%I '
                       'for each statement execute function core.chg_notify()', t || '_chg_notify', t);
    end loop;
end $$;

-- Command log -------------------------------------------------------------------------------------
-- Every command received through the command API (core/api.py), written in the same transaction as
-- its effect, so a command id is applied at most once. A failed command is recorded with its reason
-- and answers the same on a retry. Not a business table: no change capture (sync never sees it).
create table if not exists command_log (
    command_id uuid primary key,
    type varchar(30) not null,
    aab001 bigint,
    reference varchar(40),
    request_hash bytea not null,
    status varchar(10) not null check (status in ('applied', 'failed')),
    reason text,
    result jsonb,
    txid text,                            -- the applying transaction: the consistency token of its change
    received_at timestamptz not null default now()
);

-- 电子档案: supporting documents forwarded with a command (core/archive.py), filed in the applying
-- transaction after their digests were checked. Not a business table: no change capture.
create table if not exists archive_file (
    id bigserial primary key,
    command_id uuid not null,
    aab001 bigint,
    reference varchar(40),                -- the hub's 受理号
    source_id bigint not null,            -- the hub's attachment id
    filename varchar(120) not null,
    media_type varchar(40) not null,
    size integer not null,
    sha256 bytea not null,
    sm3 bytea not null,
    content bytea not null,
    received_at timestamptz not null default now(),
    unique (command_id, source_id)
);

-- Columns added to business tables after a core was first created: repeated here, idempotent, so that an
-- existing core gets them (this tail runs at the command API's start, ``commands.ensure_log``, and on
-- ``core.db.init`` of a present schema). The change-capture trigger images whole rows, so the new columns
-- reach the sync without other changes. The catalogue is checked first so that a start does not queue for
-- ac01's exclusive lock behind a long reader when there is nothing to add.
do $$
declare added record;
begin
    for added in select * from (values ('ac01', 'address', 'varchar(100)'), ('ac01', 'postal_code', 'varchar(6)'))
            as a (tbl, col, type)
    loop
        if not exists (select 1 from information_schema.columns
                       where table_schema = 'core' and table_name = added.tbl and column_name = added.col) then
            execute format('alter table core.%I add column %I %s', added.tbl, added.col, added.type);
        end if;
    end loop;
end $$;
